import { Module } from '@nestjs/common';
import { AppConfig } from '@ibhq/core';
import { FernetKeyRing } from './fernet-key-ring.js';
import { Signer } from './signing.js';

/**
 * Provides the application's {@link FernetKeyRing} and {@link Signer}, built from
 * `FERNET_KEYS` and `SIGNING_KEYS` through {@link AppConfig}, which the apps provide
 * globally. Not global itself: a module that encrypts or signs imports it.
 */
@Module({
  providers: [
    {
      provide: FernetKeyRing,
      useFactory: (config: AppConfig) => new FernetKeyRing(config.crypto.fernetKeys),
      inject: [AppConfig],
    },
    {
      provide: Signer,
      useFactory: (config: AppConfig) => new Signer(config.crypto.signingKeys),
      inject: [AppConfig],
    },
  ],
  exports: [FernetKeyRing, Signer],
})
export class CryptoModule {}
