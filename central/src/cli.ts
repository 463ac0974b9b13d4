import { runHubCli } from './cli/program.js';

await runHubCli(process.argv);
