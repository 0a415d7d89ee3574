import { expect } from 'chai';
import { createPublicKey } from 'node:crypto';
import { SignJWT, decodeProtectedHeader, exportJWK, generateKeyPair, importJWK, type JWK, type JWTPayload } from 'jose';
import { TestServer, uniqueEmail } from '../helpers/server.js';
import { SigningKeySchema } from '../../src/db/entities.js';
import { failWith } from '../helpers/assertions.js';

const b64 = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k'];

/**
 * Forged and misused access tokens. Each is refused with 401 and a Bearer challenge. The tokens signed with the
 * server's real private key (read from the database) differ from a valid token in one respect only, and a control
 * token made the same way with nothing changed is accepted: so each refusal is for the reason the test names.
 */
describe('resilience: access tokens', () => {
  const TTL = 600;
  let app: TestServer;
  let adminEmail: string;
  let account: { email: string; password: string };
  let session: { accessToken: string; refreshToken?: string; user: { id: string } };
  let claims: JWTPayload;
  let kid: string;
  let realKey: { privateJwk: JWK; publicJwk: JWK; alg: string };

  /** A token with the claims and header given, signed with the server's own private key. */
  const signWithOurKey = async (payload: JWTPayload, header: Record<string, unknown> = {}) =>
    new SignJWT(payload)
      .setProtectedHeader({ alg: realKey.alg, kid, typ: 'at+jwt', ...header })
      .sign(await importJWK(realKey.privateJwk, realKey.alg));

  const refused = async (token: string, label: string, code = 'invalid-access-token') => {
    const reply = await app.request('GET', '/v1/me', { token });
    failWith(reply, 401, code, label);
    expect(reply.headers.get('www-authenticate'), label).to.match(/^Bearer realm="pulse-auth"/);
    if (code === 'invalid-access-token') expect(reply.headers.get('www-authenticate'), label).to.match(/error="invalid_token"/);
    return reply;
  };

  before(async () => {
    adminEmail = uniqueEmail('admin');
    app = await TestServer.start({ ACCESS_TOKEN_TTL: String(TTL), ADMIN_EMAILS: adminEmail, SIGNING_KEY_PUBLISH_SECONDS: '0' });
    account = await app.createUser();
    session = await app.login(account.email, account.password, 'body');
    claims = JSON.parse(Buffer.from(session.accessToken.split('.')[1], 'base64url').toString());
    kid = decodeProtectedHeader(session.accessToken).kid!;
    const stored = await app.services.orm.em.fork().findOneOrFail(SigningKeySchema, { kid }, { populate: ['privateJwk'] });
    realKey = { privateJwk: stored.privateJwk as JWK, publicJwk: stored.publicJwk as JWK, alg: stored.alg };
  });
  after(() => app?.stop());

  it('accepts the real token and a copy re-signed with the real key (the control for the forgeries below)', async () => {
    expect((await app.request('GET', '/v1/me', { token: session.accessToken })).status).to.equal(200);
    const copy = await signWithOurKey({ ...claims, jti: crypto.randomUUID() });
    const reply = await app.request('GET', '/v1/me', { token: copy });
    expect(reply.status, reply.text).to.equal(200);
    expect(reply.body.id).to.equal(session.user.id);
  });

  it('refuses an unsigned token (alg none), with and without our kid', async () => {
    const [, payload] = session.accessToken.split('.');
    await refused(`${b64({ alg: 'none', typ: 'at+jwt' })}.${payload}.`, 'alg none');
    await refused(`${b64({ alg: 'none', typ: 'at+jwt', kid })}.${payload}.`, 'alg none with kid');
    await refused(`${b64({ alg: 'NONE', typ: 'at+jwt', kid })}.${payload}.`, 'alg NONE');
    // The real signature left on, the header switched to none.
    await refused(`${b64({ alg: 'none', typ: 'at+jwt', kid })}.${payload}.${session.accessToken.split('.')[2]}`, 'alg none, signature kept');
  });

  it('refuses a token signed by a foreign key that carries our kid', async () => {
    const foreign = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
    const token = await new SignJWT(claims).setProtectedHeader({ alg: 'EdDSA', kid, typ: 'at+jwt' }).sign(foreign.privateKey);
    await refused(token, 'foreign key, our kid');
    const es = await generateKeyPair('ES256');
    await refused(await new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid, typ: 'at+jwt' }).sign(es.privateKey), 'foreign ES256 key, our kid');
  });

  it('refuses a tampered payload whose signature was kept (sub, role, sid, exp changed)', async () => {
    const [header, , signature] = session.accessToken.split('.');
    const other = await app.createUser();
    const otherSession = await app.login(other.email, other.password, 'body');
    const changes: Record<string, JWTPayload> = {
      'role admin': { role: 'admin' },
      'sub of another user': { sub: otherSession.user.id },
      'sid of another session': { sid: JSON.parse(Buffer.from(otherSession.accessToken.split('.')[1], 'base64url').toString()).sid },
      'exp a year later': { exp: (claims.exp as number) + 365 * 86_400 },
    };
    for (const [label, change] of Object.entries(changes)) {
      await refused(`${header}.${b64({ ...claims, ...change })}.${signature}`, label);
    }
    // A flipped bit in the signature.
    const bytes = Buffer.from(signature, 'base64url');
    bytes[5] ^= 1;
    await refused(`${header}.${session.accessToken.split('.')[1]}.${bytes.toString('base64url')}`, 'flipped signature bit');
  });

  it('refuses a wrong aud or iss even when signed with our key', async () => {
    await refused(await signWithOurKey({ ...claims, aud: 'https://another-api.example' }), 'wrong aud');
    await refused(await signWithOurKey({ ...claims, aud: [] }), 'empty aud');
    await refused(await signWithOurKey({ ...claims, iss: 'https://evil.example' }), 'wrong iss');
    const { iss: _iss, ...withoutIss } = claims;
    await refused(await signWithOurKey(withoutIss), 'no iss');
    const { sid: _sid, ...withoutSid } = claims;
    await refused(await signWithOurKey(withoutSid), 'no sid');
  });

  it('refuses the real token once ACCESS_TOKEN_TTL has passed (and accepts it just before)', async () => {
    const { accessToken } = await app.login(account.email, account.password, 'body');
    app.clock.advance(TTL - 5);
    try {
      expect((await app.request('GET', '/v1/me', { token: accessToken })).status).to.equal(200);
      app.clock.advance(10);
      const reply = await refused(accessToken, 'expired');
      expect(reply.headers.get('www-authenticate')).to.match(/expired/);
    } finally {
      app.clock.advance(-(TTL + 5));
    }
  });

  it('ignores keys announced in the token header (jwk, jku, x5u): such tokens are refused', async () => {
    const foreign = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
    const foreignJwk = await exportJWK(foreign.publicKey);
    const headers: Record<string, Record<string, unknown>> = {
      'jwk, our kid': { kid, jwk: foreignJwk },
      'jwk, no kid': { kid: undefined, jwk: foreignJwk },
      'jku, our kid': { kid, jku: 'http://127.0.0.1:1/jwks.json' },
      'jku, no kid': { kid: undefined, jku: 'http://127.0.0.1:1/jwks.json' },
      'x5u, our kid': { kid, x5u: 'http://127.0.0.1:1/cert.pem' },
      'x5u, no kid': { kid: undefined, x5u: 'http://127.0.0.1:1/cert.pem' },
      'foreign kid': { kid: 'attacker-key' },
    };
    for (const [label, header] of Object.entries(headers)) {
      const token = await new SignJWT(claims).setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt', ...header } as never).sign(foreign.privateKey);
      await refused(token, label);
    }
  });

  it('refuses HS256 tokens whose HMAC secret is our public key (algorithm confusion)', async () => {
    const pem = createPublicKey({ key: realKey.publicJwk as never, format: 'jwk' }).export({ type: 'spki', format: 'pem' }) as string;
    const jwksText = JSON.stringify((await app.request('GET', '/.well-known/jwks.json')).body);
    const secrets = {
      'PEM': Buffer.from(pem),
      'JWK JSON': Buffer.from(JSON.stringify(realKey.publicJwk)),
      'raw x': Buffer.from(realKey.publicJwk.x!, 'base64url'),
      'x as text': Buffer.from(realKey.publicJwk.x!),
      'JWKS document': Buffer.from(jwksText),
    };
    for (const [label, secret] of Object.entries(secrets)) {
      for (const alg of ['HS256', 'HS512']) {
        const token = await new SignJWT(claims).setProtectedHeader({ alg, kid, typ: 'at+jwt' }).sign(secret);
        await refused(token, `${alg} with ${label}`);
      }
    }
  });

  it('refuses a refresh token (or anything opaque) presented as an access token', async () => {
    await refused(session.refreshToken!, 'refresh token');
    await refused(`${session.refreshToken!}.${session.refreshToken!}.${session.refreshToken!}`, 'refresh token as three parts');
    await refused('not-a-jwt', 'opaque');
  });

  it('refuses a JWT without typ at+jwt (an ID-token-like JWT) even when signed with our key', async () => {
    const idTokenLike = { ...claims, aud: claims.aud, email: account.email, email_verified: true, nonce: 'n' };
    await refused(await signWithOurKey(idTokenLike, { typ: 'JWT' }), 'typ JWT');
    await refused(await signWithOurKey(idTokenLike, { typ: undefined }), 'no typ');
    await refused(await signWithOurKey(claims, { typ: 'id_token+jwt' }), 'typ id_token+jwt');
  });

  it('answers authentication-required with a Bearer challenge for a malformed Authorization header', async () => {
    for (const authorization of ['Basic dXNlcjpwYXNz', 'Bearer', 'Bearer ', `Token ${session.accessToken}`, `Bearer ${session.accessToken} extra`]) {
      const reply = await app.request('GET', '/v1/me', { headers: { authorization } });
      failWith(reply, 401, 'authentication-required', authorization);
      expect(reply.headers.get('www-authenticate'), authorization).to.match(/^Bearer realm="pulse-auth"/);
    }
  });

  it('publishes no private key member in the JWKS, before and after a key rotation', async () => {
    const check = (body: { keys: Record<string, unknown>[] }) => {
      expect(body.keys).to.be.an('array').that.is.not.empty;
      for (const key of body.keys) for (const member of PRIVATE_MEMBERS) expect(key, `${key.kid} has ${member}`).not.to.have.property(member);
      expect(JSON.stringify(body)).not.to.include(realKey.privateJwk.d!);
    };
    const before = await app.request('GET', '/.well-known/jwks.json');
    check(before.body);
    const admin = await app.createUser({ email: adminEmail });
    const { accessToken } = await app.login(admin.email, admin.password, 'body');
    const rotation = await app.request('POST', '/v1/admin/signing-keys/rotate', { token: accessToken });
    expect(rotation.status, rotation.text).to.equal(200);
    const after = await app.request('GET', '/.well-known/jwks.json');
    check(after.body);
    expect(after.body.keys.map((key: { kid: string }) => key.kid)).to.include(rotation.body.kid).and.include(kid);
    const newKey = await app.services.orm.em.fork().findOneOrFail(SigningKeySchema, { kid: rotation.body.kid }, { populate: ['privateJwk'] });
    expect(JSON.stringify(after.body)).not.to.include((newKey.privateJwk as JWK).d!);
    // The new key signs at once (publish time 0) and its tokens are accepted.
    const fresh = await app.login(account.email, account.password, 'body');
    expect(decodeProtectedHeader(fresh.accessToken).kid).to.equal(rotation.body.kid);
    expect((await app.request('GET', '/v1/me', { token: fresh.accessToken })).status).to.equal(200);
  });
});
