import { openHub } from '/work/wt/migrate/central/dist/hub-services.js';
import { createLogger } from '@tillbridge/shared';
const log = createLogger({name:'x', level:'silent'});
const url = 'postgres://postgres@127.0.0.1:5432/tb_mig_manual';
const h2 = openHub({ dataDir: '/tmp/mt2', database: url, tokenLifetimeSec: 900, log });
if (process.argv[2] === 'verify') console.log(h2.auditTrail.verify().ok);
h2.close();
console.log('closed');
if (process.argv[3] === 'gc') { global.gc?.(); }
