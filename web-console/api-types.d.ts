// Types of the console's API client (client.js), derived from the generated `api.d.ts` (openapi-typescript
// over openapi/openapi.json; tests/console checks it is not stale).
import type { paths, components } from './api';

/** Every path of the admin API, by path template. */
export type Paths = paths;
/** The spec's schemas. */
export type Schemas = components['schemas'];

export type Method = 'get' | 'post' | 'patch' | 'delete';

/** The paths that have `M`. */
export type PathFor<M extends Method> = {
  [P in keyof Paths]: Paths[P] extends { [K in M]: { responses: unknown } } ? P : never;
}[keyof Paths];

/** The operation at `M P`. */
export type Op<P extends keyof Paths, M extends Method> = Paths[P] extends { [K in M]: infer O } ? O : never;

type ParamsOf<O> = O extends { parameters: infer X } ? X : never;
export type PathParams<O> = ParamsOf<O> extends { path: infer X } ? X : never;
export type QueryParams<O> = ParamsOf<O> extends { query?: infer X } ? X : never;
export type RequestBody<O> = O extends { requestBody?: { content: { 'application/json': infer B } } } ? B : never;

type Content<R, S extends number> = R extends { [K in S]: { content: { 'application/json': infer T } } } ? T : never;
/** What a successful answer holds (`undefined` for 204). */
export type Ok<O> = O extends { responses: infer R }
  ? [Content<R, 200>] extends [never]
    ? [Content<R, 201>] extends [never]
      ? [Content<R, 202>] extends [never]
        ? undefined
        : Content<R, 202>
      : Content<R, 201>
    : Content<R, 200>
  : never;

export interface CallOptions<O> {
  path?: PathParams<O>;
  query?: QueryParams<O>;
  body?: RequestBody<O>;
  signal?: AbortSignal;
  /** A 401 is this call's own answer (a wrong current password), not the end of the session. */
  own401?: boolean;
}
