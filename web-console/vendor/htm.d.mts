// Types of the vendored htm.mjs: those of the npm package htm (tests/console/node_modules).
export * from 'htm';
