import { runAgentCli } from './cli/program.js';

await runAgentCli(process.argv);
