import { createHmac, randomUUID } from 'node:crypto';
import request from 'supertest';
import { MetricsServer } from '@codelab/platform';
import { createTestApp, expectProblem, registerUser, type TestApp } from './support/test-app';

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** Hand-made HS256 JWT, to forge exactly the token each attack needs. */
function signJwt(
  header: Record<string, unknown>,
  payload: Record<string, unknown>,
  secret: string,
): string {
  const body = `${b64(header)}.${b64(payload)}`;
  return `${body}.${createHmac('sha256', secret).update(body).digest('base64url')}`;
}

describe('auth (e2e)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(async () => {
    await t.close();
  });

  const validClaims = (sub: string) => {
    const now = Math.floor(Date.now() / 1000);
    return {
      sub,
      typ: 'access',
      iat: now,
      exp: now + 600,
      iss: t.config.jwt.issuer,
      aud: t.config.jwt.audience,
    };
  };

  describe('register and login', () => {
    it('registers with a lower-cased email and returns snake_case tokens', async () => {
      const res = await t.http
        .post('/v1/auth/register')
        .send({ email: 'Grace.Hopper@Example.com', password: 'correct horse battery staple' })
        .expect(201);
      expect(res.body).toEqual({
        access_token: expect.any(String),
        token_type: 'Bearer',
        expires_in: 900,
        refresh_token: expect.any(String),
        refresh_expires_at: expect.any(String),
        user: {
          id: expect.any(String),
          email: 'grace.hopper@example.com',
          created_at: expect.any(String),
        },
      });
      expect(res.body.user).not.toHaveProperty('password_hash');
      expect(res.body.user).not.toHaveProperty('passwordHash');
    });

    it('refuses a second account with the same email in another case (409)', async () => {
      await registerUser(t.http, 'dup@example.com');
      const res = await t.http
        .post('/v1/auth/register')
        .send({ email: 'DUP@example.com', password: 'another password' });
      expectProblem(res, 409, 'EMAIL_TAKEN');
    });

    it('validates the registration body', async () => {
      const res = await t.http
        .post('/v1/auth/register')
        .send({ email: 'not-an-email', password: 'short' });
      const problem = expectProblem(res, 400, 'VALIDATION_FAILED');
      const fields = (problem.errors as { field: string }[]).map((e) => e.field).sort();
      expect(fields).toEqual(['email', 'password']);
    });

    it('logs in with the right password only, with the same answer for unknown emails', async () => {
      const user = await registerUser(t.http);
      const ok = await t.http
        .post('/v1/auth/login')
        .send({ email: user.email.toUpperCase(), password: user.password })
        .expect(200);
      expect(ok.body.user.id).toBe(user.id);

      const wrong = await t.http
        .post('/v1/auth/login')
        .send({ email: user.email, password: 'wrong password!' });
      const unknown = await t.http
        .post('/v1/auth/login')
        .send({ email: 'nobody@example.com', password: 'wrong password!' });
      expectProblem(wrong, 401, 'INVALID_CREDENTIALS');
      expectProblem(unknown, 401, 'INVALID_CREDENTIALS');
      expect(wrong.body.detail).toBe(unknown.body.detail);
    });

    it('GET /v1/me returns the caller', async () => {
      const user = await registerUser(t.http);
      const res = await t.http.get('/v1/me').set(user.auth).expect(200);
      expect(res.body).toEqual({ id: user.id, email: user.email, created_at: expect.any(String) });
    });
  });

  describe('refresh tokens', () => {
    it('rotates on every use: the new token works, the old one does not', async () => {
      const user = await registerUser(t.http);
      const first = await t.http
        .post('/v1/auth/refresh')
        .send({ refresh_token: user.refreshToken })
        .expect(200);
      expect(first.body.refresh_token).not.toBe(user.refreshToken);
      await t.http
        .get('/v1/me')
        .set({ Authorization: `Bearer ${first.body.access_token}` })
        .expect(200);

      const second = await t.http
        .post('/v1/auth/refresh')
        .send({ refresh_token: first.body.refresh_token })
        .expect(200);
      expect(second.body.refresh_token).not.toBe(first.body.refresh_token);
    });

    it('detects reuse of a rotated token and revokes the whole family', async () => {
      const user = await registerUser(t.http);
      const rotated = await t.http
        .post('/v1/auth/refresh')
        .send({ refresh_token: user.refreshToken })
        .expect(200);
      const current = rotated.body.refresh_token as string;

      const replay = await t.http
        .post('/v1/auth/refresh')
        .send({ refresh_token: user.refreshToken });
      expectProblem(replay, 401, 'REFRESH_TOKEN_REUSED');

      // The legitimate holder's newest token died with the family.
      const afterReuse = await t.http.post('/v1/auth/refresh').send({ refresh_token: current });
      expectProblem(afterReuse, 401, 'INVALID_REFRESH_TOKEN');
    });

    it('lets exactly one of two concurrent rotations of one token win', async () => {
      const user = await registerUser(t.http);
      const results = await Promise.all([
        t.http.post('/v1/auth/refresh').send({ refresh_token: user.refreshToken }),
        t.http.post('/v1/auth/refresh').send({ refresh_token: user.refreshToken }),
      ]);
      expect(results.map((r) => r.status).sort()).toEqual([200, 401]);
    });

    it('does not affect other login sessions of the same user', async () => {
      const user = await registerUser(t.http);
      const other = await t.http
        .post('/v1/auth/login')
        .send({ email: user.email, password: user.password })
        .expect(200);
      await t.http.post('/v1/auth/refresh').send({ refresh_token: user.refreshToken }).expect(200);
      await t.http.post('/v1/auth/refresh').send({ refresh_token: user.refreshToken }).expect(401);
      await t.http
        .post('/v1/auth/refresh')
        .send({ refresh_token: other.body.refresh_token })
        .expect(200);
    });

    it('rejects unknown refresh tokens', async () => {
      expectProblem(
        await t.http.post('/v1/auth/refresh').send({ refresh_token: 'nope' }),
        401,
        'INVALID_REFRESH_TOKEN',
      );
      expectProblem(await t.http.post('/v1/auth/refresh').send({}), 400, 'VALIDATION_FAILED');
    });

    it('logout revokes the refresh token and is idempotent', async () => {
      const user = await registerUser(t.http);
      await t.http.post('/v1/auth/logout').send({ refresh_token: user.refreshToken }).expect(204);
      await t.http.post('/v1/auth/logout').send({ refresh_token: user.refreshToken }).expect(204);
      expectProblem(
        await t.http.post('/v1/auth/refresh').send({ refresh_token: user.refreshToken }),
        401,
        'INVALID_REFRESH_TOKEN',
      );
    });
  });

  describe('access tokens', () => {
    let user: Awaited<ReturnType<typeof registerUser>>;
    beforeAll(async () => {
      user = await registerUser(t.http);
    });

    const expect401 = async (token: string | undefined) => {
      const req = t.http.get('/v1/me');
      if (token !== undefined) req.set('Authorization', `Bearer ${token}`);
      expectProblem(await req, 401, 'UNAUTHENTICATED');
    };

    it('accepts a token forged here with every claim right (the control for the cases below)', async () => {
      const token = signJwt(
        { alg: 'HS256', typ: 'JWT' },
        validClaims(user.id),
        t.config.jwt.secret,
      );
      await t.http.get('/v1/me').set('Authorization', `Bearer ${token}`).expect(200);
    });

    it('rejects a missing or malformed Authorization header', async () => {
      await expect401(undefined);
      await expect401('not-a-jwt');
      const res = await t.http
        .get('/v1/me')
        .set('Authorization', `Basic ${Buffer.from('a:b').toString('base64')}`);
      expectProblem(res, 401);
    });

    it('rejects an expired token', async () => {
      const now = Math.floor(Date.now() / 1000);
      const claims = { ...validClaims(user.id), iat: now - 3600, exp: now - 60 };
      await expect401(signJwt({ alg: 'HS256', typ: 'JWT' }, claims, t.config.jwt.secret));
    });

    it('rejects an unsigned token (alg none)', async () => {
      await expect401(`${b64({ alg: 'none', typ: 'JWT' })}.${b64(validClaims(user.id))}.`);
    });

    it('rejects a token signed with another key', async () => {
      await expect401(
        signJwt(
          { alg: 'HS256', typ: 'JWT' },
          validClaims(user.id),
          'another-secret-another-secret-xx',
        ),
      );
    });

    it('rejects a token whose sub was changed after signing', async () => {
      const [header, , signature] = user.accessToken.split('.');
      const payload = JSON.parse(
        Buffer.from(user.accessToken.split('.')[1], 'base64url').toString(),
      );
      await expect401(`${header}.${b64({ ...payload, sub: randomUUID() })}.${signature}`);
    });

    it('rejects a wrong audience or issuer', async () => {
      const secret = t.config.jwt.secret;
      await expect401(
        signJwt({ alg: 'HS256' }, { ...validClaims(user.id), aud: 'someone-else' }, secret),
      );
      await expect401(
        signJwt({ alg: 'HS256' }, { ...validClaims(user.id), iss: 'someone-else' }, secret),
      );
    });

    it('rejects tokens missing a required claim or of another type', async () => {
      const secret = t.config.jwt.secret;
      const { exp: _exp, ...noExp } = validClaims(user.id);
      const { iat: _iat, ...noIat } = validClaims(user.id);
      const { sub: _sub, ...noSub } = validClaims(user.id);
      await expect401(signJwt({ alg: 'HS256' }, noExp, secret));
      await expect401(signJwt({ alg: 'HS256' }, noIat, secret));
      await expect401(signJwt({ alg: 'HS256' }, noSub, secret));
      await expect401(
        signJwt({ alg: 'HS256' }, { ...validClaims(user.id), typ: 'refresh' }, secret),
      );
    });

    it('rejects another HMAC algorithm than the allowed one', async () => {
      const body = `${b64({ alg: 'HS512' })}.${b64(validClaims(user.id))}`;
      const sig = createHmac('sha512', t.config.jwt.secret).update(body).digest('base64url');
      await expect401(`${body}.${sig}`);
    });

    it('rejects a refresh token used as an access token', async () => {
      await expect401(user.refreshToken);
    });

    it('tolerates a few seconds of clock skew but no more', async () => {
      const now = Math.floor(Date.now() / 1000);
      const secret = t.config.jwt.secret;
      const slightlyExpired = { ...validClaims(user.id), iat: now - 900, exp: now - 2 };
      await t.http
        .get('/v1/me')
        .set('Authorization', `Bearer ${signJwt({ alg: 'HS256' }, slightlyExpired, secret)}`)
        .expect(200);
      await expect401(signJwt({ alg: 'HS256' }, { ...slightlyExpired, exp: now - 30 }, secret));
    });
  });

  it('counts auth outcomes in /metrics', async () => {
    const res = await request(t.app.get(MetricsServer).server).get('/metrics').expect(200);
    expect(res.text).toMatch(/codelab_auth_events_total\{action="login",outcome="failure"\} [1-9]/);
    expect(res.text).toMatch(
      /codelab_auth_events_total\{action="refresh",outcome="reuse_detected"\} [1-9]/,
    );
    expect(res.text).toMatch(
      /codelab_auth_events_total\{action="access",outcome="failure"\} [1-9]/,
    );
  });
});
