/**
 * Listeners told of a change to a store (presence, registers): the operator console's live view. A listener's
 * failure is swallowed, so it never reaches the caller (an agent's session).
 */
export class ChangeListeners {
  private readonly listeners: ((store: string) => void)[] = [];

  add(listener: (store: string) => void): void {
    this.listeners.push(listener);
  }

  tell(store: string): void {
    for (const l of this.listeners) {
      try {
        l(store);
      } catch {
        // the listener's own affair
      }
    }
  }
}
