/**
 * Listeners told of a change to a store (presence, registers) or of what changed (the audit log's new head): the
 * operator console's live view. A listener's failure is swallowed, so it never reaches the caller (an agent's session).
 */
export class ChangeListeners<T = string> {
  private readonly listeners: ((change: T) => void)[] = [];

  add(listener: (change: T) => void): void {
    this.listeners.push(listener);
  }

  /** Whether anyone listens (a change nobody hears need not be queued). */
  get heard(): boolean {
    return this.listeners.length > 0;
  }

  tell(change: T): void {
    for (const l of this.listeners) {
      try {
        l(change);
      } catch {
        // the listener's own affair
      }
    }
  }
}
