// Types of the vendored htm-preact.mjs: those of the npm package htm/preact (tests/console/node_modules).
export * from 'htm/preact';
