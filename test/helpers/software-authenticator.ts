/** The software passkey authenticator of the tests (software-authenticator.cjs, shared with the contract hooks). */
export { SoftwareAuthenticator, cbor, FLAG_AT, FLAG_BE, FLAG_BS, FLAG_UP, FLAG_UV } from './software-authenticator.cjs';
export type { Bend, Cbor, StoredCredential, RegistrationJSON, AuthenticationJSON } from './software-authenticator.cjs';
