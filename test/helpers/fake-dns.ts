/**
 * A DNS server on loopback UDP for the lookup tests: answers A queries for the names it is given,
 * and either stays silent (a DNS server that never answers, as in a flood of never-seen names) or
 * says NXDOMAIN for the rest. Every query is counted.
 */
import dgram from 'node:dgram';
import type { AddressInfo } from 'node:net';

export interface FakeDns {
  /** `127.0.0.1:PORT`, for `--dns-server` / `servers`. */
  readonly server: string;
  /** Names asked, one entry per query (lower case). */
  readonly queries: string[];
  close(): Promise<void>;
}

export interface FakeDnsOptions {
  /** name → IPv4 address. */
  readonly answers?: Record<string, string>;
  /** Names without an answer get no reply at all (else NXDOMAIN). */
  readonly silent?: boolean;
}

const TYPE_A = 1;

export async function startFakeDns(options: FakeDnsOptions = {}): Promise<FakeDns> {
  const socket = dgram.createSocket('udp4');
  const queries: string[] = [];
  socket.on('message', (message, from) => {
    const question = readQuestion(message);
    if (question === undefined) return;
    queries.push(question.name);
    const address = options.answers?.[question.name];
    if (address === undefined && options.silent) return;
    const answers = address !== undefined && question.type === TYPE_A ? [address] : [];
    const rcode = address === undefined ? 3 : 0; // NXDOMAIN, or NOERROR (maybe no data)
    socket.send(reply(message, question.end, answers, rcode), from.port, from.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const { port } = socket.address() as AddressInfo;
  return {
    server: `127.0.0.1:${port}`,
    queries,
    close: () => new Promise((resolve) => socket.close(() => resolve())),
  };
}

function readQuestion(message: Buffer): { name: string; type: number; end: number } | undefined {
  if (message.length < 12 || message.readUInt16BE(4) !== 1) return undefined;
  const labels: string[] = [];
  let at = 12;
  while (at < message.length && message[at] !== 0) {
    const length = message[at] ?? 0;
    labels.push(message.toString('latin1', at + 1, at + 1 + length));
    at += 1 + length;
  }
  if (at + 5 > message.length) return undefined;
  return { name: labels.join('.').toLowerCase(), type: message.readUInt16BE(at + 1), end: at + 5 };
}

/** RFC 1035 §4.1: the query's header and question, then one A record per address. */
function reply(query: Buffer, questionEnd: number, addresses: string[], rcode: number): Buffer {
  const header = Buffer.alloc(12);
  query.copy(header, 0, 0, 2); // ID
  header.writeUInt16BE(0x8180 | rcode, 2); // QR, RD, RA
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(addresses.length, 6);
  const records = addresses.map((address) => {
    const record = Buffer.alloc(16);
    record.writeUInt16BE(0xc00c, 0); // the name, by pointer to the question
    record.writeUInt16BE(TYPE_A, 2);
    record.writeUInt16BE(1, 4); // IN
    record.writeUInt32BE(60, 6);
    record.writeUInt16BE(4, 10);
    address.split('.').forEach((part, i) => record.writeUInt8(Number(part), 12 + i));
    return record;
  });
  return Buffer.concat([header, query.subarray(12, questionEnd), ...records]);
}
