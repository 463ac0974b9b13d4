// pg-native (node-postgres's libpq binding) ships no types; these are the calls the hub makes.
declare module 'pg-native' {
  interface Libpq {
    transactionStatus(): number;
    cmdTuples(): string;
    resultErrorFields(): Record<string, string> | undefined;
    finish(): void;
  }
  interface ClientConfig {
    types?: { getTypeParser(oid: number, format?: string): (value: string) => unknown };
    arrayMode?: boolean;
  }
  class Client {
    constructor(config?: ClientConfig);
    readonly pq: Libpq;
    connectSync(params?: string): void;
    querySync(text: string, values?: (string | null)[]): Record<string, unknown>[];
    prepareSync(name: string, text: string, nParams: number): void;
    executeSync(name: string, values: (string | null)[]): Record<string, unknown>[];
    end(cb?: () => void): void;
  }
  export default Client;
}
