/**
 * The ACME ECR-400 (delimited profile) sale frame the records tests share: receipt 0001-000123 of 27 November
 * 2026, three lines (one weighed) and two tenders, the second a card with its full PAN.
 */
export const ACME_SALE =
  'S|000123|0001-000123|20261127|1015|EUR|3|TEE-BLUE-M|2000|1999|MUG-LOGO|1000|899|BANANAS|0420|349|' +
  '2|01|1000||02|4044|4111111111111111';
