/** One dispatched server-sent event. */
export interface SseEvent {
  /** The `event:` field, or "message" when absent. */
  event: string;
  /** The `data:` lines joined with "\n". */
  data: string;
  /** The last event ID seen on the stream so far (`id:` persists across events). */
  id: string | undefined;
}

/**
 * An incremental parser of `text/event-stream` (WHATWG HTML, "Server-sent
 * events", §9.2.6 interpreting an event stream): lines end in CRLF, LF or
 * CR; `:` lines are comments; `data:` lines accumulate; a blank line
 * dispatches; an event without data is not dispatched; a trailing incomplete
 * event is dropped at end of stream.
 */
export class SseParser {
  private buffer = "";
  private started = false;
  private eventType = "";
  private data: string[] = [];
  private dataSize = 0;
  private lastEventId: string | undefined;
  /** The last `retry:` value (reconnection time in ms) the server suggested. */
  retryMs: number | undefined;

  /** @param maxEventChars bound on one line or one event, so a hostile stream cannot exhaust memory. */
  constructor(
    private readonly onEvent: (event: SseEvent) => void,
    private readonly maxEventChars = 8 << 20,
  ) {}

  /** Feeds decoded text; calls `onEvent` for every event it completes. */
  push(text: string): void {
    if (!this.started && text.length > 0) {
      this.started = true;
      // A leading U+FEFF byte order mark is not part of the first line.
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    let buf = this.buffer + text;
    let start = 0;
    for (;;) {
      let i = start;
      const n = buf.length;
      while (i < n) {
        const c = buf.charCodeAt(i);
        if (c === 10 || c === 13) break;
        i++;
      }
      if (i === n) break;
      // A CR at the very end may be the first half of a CRLF: wait for more.
      if (buf.charCodeAt(i) === 13 && i === n - 1) break;
      this.line(buf.slice(start, i));
      start = buf.charCodeAt(i) === 13 && buf.charCodeAt(i + 1) === 10 ? i + 2 : i + 1;
    }
    buf = buf.slice(start);
    if (buf.length > this.maxEventChars) throw new Error("event stream line too long");
    this.buffer = buf;
  }

  /** End of stream: a complete line still buffered is processed; an unfinished event is discarded. */
  end(): void {
    if (this.buffer.length > 0) {
      // Only a lone CR can be left over as a terminated line; anything else is an unterminated line.
      if (this.buffer.endsWith("\r")) this.line(this.buffer.slice(0, -1));
      this.buffer = "";
    }
    this.data = [];
    this.dataSize = 0;
    this.eventType = "";
  }

  private line(line: string): void {
    if (line.length === 0) return this.dispatch();
    if (line.charCodeAt(0) === 58 /* ":" */) return;
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.charCodeAt(0) === 32 /* " " */) value = value.slice(1);
    switch (field) {
      case "event":
        this.eventType = value;
        break;
      case "data":
        this.dataSize += value.length + 1;
        if (this.dataSize > this.maxEventChars) throw new Error("event stream event too large");
        this.data.push(value);
        break;
      case "id":
        if (!value.includes("\0")) this.lastEventId = value;
        break;
      case "retry":
        if (/^\d+$/.test(value)) this.retryMs = Number(value);
        break;
      default:
        // Unknown fields are ignored.
        break;
    }
  }

  private dispatch(): void {
    const type = this.eventType;
    const data = this.data;
    this.eventType = "";
    this.data = [];
    this.dataSize = 0;
    if (data.length === 0) return;
    this.onEvent({ event: type === "" ? "message" : type, data: data.join("\n"), id: this.lastEventId });
  }
}
