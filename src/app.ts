import Koa from 'koa';
import { HttpMethodEnum, koaBody } from 'koa-body';
import helmet from 'koa-helmet';
import cors from '@koa/cors';
import type { AppState } from './http/context.js';
import { problemResponses, readCookies, requestContext, requestEntityManager } from './http/middleware.js';
import { docsAndSpec } from './http/docs.js';
import { hostedPages } from './http/pages.js';
import './http/route-pattern-memo.js';
import { openApiValidator } from './http/openapi-validator.js';
import { rateLimits } from './http/rate-limit.js';
import { bodyOnlyWhereTaken, buildRouter } from './http/router.js';
import { authorizeAdmin, bearerAuthenticator, securityRequirements } from './http/auth.js';
import { auditTrail } from './http/audit.js';
import { measureRequests, metricsEndpoint } from './http/metrics.js';
import { loadSpec } from './http/spec.js';
import { createHandlers, operationPolicies } from './operations/index.js';
import type { Services } from './services.js';

export const BODY_LIMIT = '64kb';

/**
 * The HTTP application: request id and log line, problem rendering, security headers, CORS, docs, then the
 * request's operation resolved once (`ctx.state.operation`, read by everything after it), body parsing, the spec
 * validator, audit, rate limits, the security check, and the operation's handler.
 */
export function createApp(services: Services): Koa<AppState> {
  const { config } = services;
  const spec = loadSpec();
  // Behind a proxy, the client IP is the address the proxy appended: the last one in X-Forwarded-For. Anything
  // before it was sent by the client and proves nothing.
  const app = new Koa<AppState>({ proxy: config.TRUST_PROXY, maxIpsCount: 1 });
  app.silent = true;

  const router = buildRouter(spec.document as never, createHandlers(services), operationPolicies);

  app.use(requestContext(services.logger));
  app.use(measureRequests(services.metrics));
  app.use(problemResponses());
  app.use(
    helmet({
      // An API answers JSON: nothing in a response may load anything or be framed. (/docs sets its own.)
      contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } },
      strictTransportSecurity: config.PUBLIC_URL.startsWith('https:'),
    }),
  );
  const allowed = new Set(config.corsOrigins);
  app.use(
    cors({
      origin: (ctx) => (allowed.has(ctx.get('origin')) ? ctx.get('origin') : ''),
      credentials: true,
      exposeHeaders: ['Retry-After', 'X-Request-Id', 'WWW-Authenticate'],
      maxAge: 600,
    }),
  );
  app.use(docsAndSpec(spec, config.PUBLIC_URL));
  app.use(hostedPages());
  app.use(metricsEndpoint(services.metrics, config.METRICS_TOKEN));
  app.use(router.resolve);
  app.use(readCookies());
  const parseJson = (jsonLimit: string) =>
    koaBody({
      json: true,
      jsonStrict: true,
      jsonLimit,
      urlencoded: false,
      text: false,
      multipart: false,
      // DELETE too: deleteMe takes the password in its body.
      parsedMethods: [HttpMethodEnum.POST, HttpMethodEnum.PUT, HttpMethodEnum.PATCH, HttpMethodEnum.DELETE],
    });
  // BODY_LIMIT for every operation but the few whose policy names a larger body (adminImportUsers).
  const parsers = new Map([[BODY_LIMIT, parseJson(BODY_LIMIT)]]);
  for (const policy of Object.values(operationPolicies)) if (policy?.bodyLimit) parsers.set(policy.bodyLimit, parseJson(policy.bodyLimit));
  app.use(bodyOnlyWhereTaken((ctx, next) => parsers.get(ctx.state.operation?.policy.bodyLimit ?? BODY_LIMIT)!(ctx, next)));
  app.use(requestEntityManager(services.orm));
  app.use(openApiValidator({ spec: spec.document, validateResponses: config.VALIDATE_RESPONSES }));
  app.use(auditTrail(services.audit));
  app.use(
    rateLimits(services.counters, {
      perMinute: config.RATE_LIMIT_PER_MINUTE,
      accountPerHour: config.RATE_LIMIT_ACCOUNT_PER_HOUR,
      ipv6Prefix: config.RATE_LIMIT_IPV6_PREFIX,
    }),
  );
  app.use(securityRequirements(bearerAuthenticator(services.accessTokens, services.sessions), authorizeAdmin));
  app.use(router.dispatch);
  return app;
}
