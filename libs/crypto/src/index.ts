export { CryptoModule } from './crypto.module.js';
export {
  Fernet,
  type FernetDecryptOptions,
  type FernetEncryptOptions,
  InvalidFernetTokenError,
  generateFernetKey,
} from './fernet.js';
export { FernetKeyRing } from './fernet-key-ring.js';
export { InvalidSignatureError, SignatureExpiredError, Signer } from './signing.js';
