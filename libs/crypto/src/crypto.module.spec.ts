import { Global, Module } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { AppConfig } from '@ibhq/core';
import { describe, expect, it } from 'vitest';
import { CryptoModule, Fernet, FernetKeyRing, Signer, generateFernetKey } from './index.js';

describe('CryptoModule', () => {
  it('provides a key ring and a signer built from AppConfig', async () => {
    const first = generateFernetKey();
    const second = generateFernetKey();
    const signingKey = 'x'.repeat(40);
    const config = AppConfig.load({
      DATABASE_URL: 'postgres://u:p@127.0.0.1/db',
      REDIS_URL: 'redis://127.0.0.1:6379',
      FERNET_KEYS: `${first},${second}`,
      SIGNING_KEYS: signingKey,
    });

    // The apps provide AppConfig from a global module; this stands in for it.
    @Global()
    @Module({ providers: [{ provide: AppConfig, useValue: config }], exports: [AppConfig] })
    class TestConfigModule {}

    const moduleRef = await Test.createTestingModule({
      imports: [TestConfigModule, CryptoModule],
    }).compile();
    try {
      const ring = moduleRef.get(FernetKeyRing);
      expect(ring).toBeInstanceOf(FernetKeyRing);
      const token = ring.encrypt('from the module');
      expect(new Fernet(first).decryptString(token)).toBe('from the module');
      expect(() => new Fernet(second).decrypt(token)).toThrow();
      expect(ring.decryptString(new Fernet(second).encrypt('old key'))).toBe('old key');

      const signer = moduleRef.get(Signer);
      const link = signer.sign('invite', { id: 1 }, { expiresInSeconds: 60 });
      expect(new Signer([signingKey]).verify('invite', link)).toEqual({ id: 1 });
      expect(moduleRef.get(FernetKeyRing)).toBe(ring); // a singleton
    } finally {
      await moduleRef.close();
    }
  });

  it('fails to start when AppConfig is not available', async () => {
    await expect(Test.createTestingModule({ imports: [CryptoModule] }).compile()).rejects.toThrow(
      /AppConfig/,
    );
  });
});
