import type Pusher from 'pusher-js';

/** A place in a channel's history, as Herald sends it. */
export interface Position {
  epoch: string;
  serial: number;
}

/** Why Herald could not resume (`recovery_reason`). */
export type RecoveryReason = 'epoch_changed' | 'expired' | 'ahead' | 'unavailable' | 'invalid';

/** The outcome of a resumed subscribe; `reason` is null when `recovered` is true. */
export interface Recovery {
  recovered: boolean;
  reason: RecoveryReason | null;
}

/** What the plugin needs of a Web Storage object (sessionStorage, localStorage). */
export interface ResumeStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

export interface ResumeOptions {
  /** Called on every resumed subscribe; also emitted as `herald:recovery` on the channel. */
  onRecovery?: (channelName: string, recovery: Recovery) => void;
  /** Keeps positions across page reloads. */
  storage?: ResumeStorage;
}

export interface Resume {
  /** The position a resubscribe of the channel would resume after, or null. */
  position(channelName: string): Position | null;
  /** Drops the channel's position: its next subscribe starts fresh. */
  forget(channelName: string): void;
  /** Undoes enableResume (positions are kept in `storage`). */
  disable(): void;
}

export function enableResume(pusher: Pusher, options?: ResumeOptions): Resume;
