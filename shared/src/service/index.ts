export * from './runner.js';
export * from './systemd.js';
export * from './winsw.js';
