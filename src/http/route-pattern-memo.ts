import { createRequire } from 'node:module';
import { BoundedMap } from '../domain/cache/bounded-map.js';

/**
 * express-openapi-validator (5.x) finds a request's operation by compiling every route of the spec with
 * path-to-regexp, on every request: with our forty-odd routes that was a third of the CPU time of a small request.
 * The compilation is a pure function of the pattern and its options, so the module's export is wrapped with a memo
 * (bounded, though the patterns come from the spec and never from a request). Remove once the validator caches.
 */
const requireFromValidator = createRequire(createRequire(import.meta.url).resolve('express-openapi-validator'));
const pathToRegexpModule = requireFromValidator('path-to-regexp') as { pathToRegexp: (path: string, options?: object) => unknown };

const compile = pathToRegexpModule.pathToRegexp;
const compiled = new BoundedMap<string, unknown>(1_000);
pathToRegexpModule.pathToRegexp = function memoisedPathToRegexp(path: string, options?: object) {
  if (typeof path !== 'string') return compile(path, options);
  const key = `${path}\u0000${JSON.stringify(options ?? {})}`;
  let result = compiled.get(key);
  if (result === undefined) {
    result = compile(path, options);
    compiled.set(key, result);
  }
  return result;
};
