// Types of the vendored preact.mjs: those of the npm package preact (tests/console/node_modules).
export * from 'preact';
