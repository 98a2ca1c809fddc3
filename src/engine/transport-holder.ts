// Owns the pass's transport: created on the first send (so an empty pass never loads nodemailer),
// replaced when the error handler asks for a new connection, closed at the end of the pass. A
// replaced transport is closed only once its in-flight sends have finished.
import { afterHold, type OutgoingMessage, type SendResult, type Transport } from "../transports/types.ts";

export type TransportFactory = () => Promise<Transport>;

interface Slot {
  transport: Transport;
  inFlight: number;
  retired: boolean;
  warmed?: boolean;
}

export class TransportHolder {
  #factory: TransportFactory;
  #current: Promise<Slot> | null = null;
  /** The settled value of #current, once it has one. */
  #ready: Slot | null = null;
  #slots = new Set<Slot>();
  #closing: Promise<void>[] = [];
  #name = "";

  constructor(factory: TransportFactory) {
    this.#factory = factory;
  }

  /** The backend's name, once created ("" before). */
  get name(): string {
    return this.#name;
  }

  /** Built and not replaced since (reconnect() clears it until the next ready() or send). */
  get built(): boolean {
    return this.#ready !== null;
  }

  /** Creates the transport if needed. Throws what the factory throws (a bad module, say): a pass
   * cannot go on without a transport, so that is fatal rather than a per-message failure. */
  async ready(): Promise<void> {
    await this.#slot();
  }

  /** Creates the transport if needed and runs its warm-up, once per transport built. */
  async warm(): Promise<void> {
    const slot = this.#ready ?? (await this.#slot());
    if (slot.warmed) return;
    slot.warmed = true;
    await slot.transport.warm?.();
  }

  async send(message: OutgoingMessage): Promise<SendResult> {
    // Once built, the transport is handed the message in the same tick (no await in between).
    let slot = this.#ready ?? (await this.#slot());
    if (message.hold && !slot.transport.holdsText) {
      message = await afterHold(message);
      slot = this.#ready ?? (await this.#slot()); // it may have been replaced meanwhile
    }
    slot.inFlight++;
    try {
      return await slot.transport.send(message);
    } finally {
      slot.inFlight--;
      if (slot.retired && slot.inFlight === 0) this.#closeSlot(slot);
    }
  }

  reconnect(): void {
    const current = this.#current;
    this.#current = null;
    this.#ready = null;
    current
      ?.then((slot) => {
        slot.retired = true;
        if (slot.inFlight === 0) this.#closeSlot(slot);
      })
      .catch(() => {}); // it never got built: nothing to close
  }

  async close(): Promise<void> {
    const current = this.#current;
    this.#current = null;
    this.#ready = null;
    if (current) {
      try {
        (await current).retired = true;
      } catch {
        // creation failed: nothing to close
      }
    }
    for (const slot of this.#slots) this.#closeSlot(slot);
    await Promise.allSettled(this.#closing);
  }

  #slot(): Promise<Slot> {
    if (!this.#current) {
      const pending: Promise<Slot> = this.#factory().then((transport) => {
        const slot = { transport, inFlight: 0, retired: false };
        this.#name = transport.name;
        this.#slots.add(slot);
        if (this.#current === pending) this.#ready = slot;
        return slot;
      });
      this.#current = pending;
      // A failed creation is not cached: the next pass (or caller) tries again.
      pending.catch(() => {
        if (this.#current === pending) this.#current = null;
      });
    }
    return this.#current;
  }

  #closeSlot(slot: Slot): void {
    if (!this.#slots.delete(slot)) return;
    this.#closing.push(slot.transport.close().catch(() => {}));
  }
}
