// Bridge forwarding database entries, through iproute2's `bridge` (ip has no FDB commands). A
// static entry says which port a MAC lives behind; `sticky` keeps the kernel from moving it when
// the MAC shows up on another port. Together with `learning off` and `locked on` on the port
// (LinkChanges.bridgePort) that port can send only from the MACs given here.
import { runIproute2, type NetnsRef } from './run.js';
import { validateIfName, validateMac } from './validate.js';

export interface StaticFdbEntry {
  mac: string;
  /** The bridge port (its master is the bridge). */
  dev: string;
}

// Creates the entry or turns an existing (learnt) one into a static sticky one.
export async function replaceStaticFdb(entry: StaticFdbEntry, ns?: NetnsRef): Promise<void> {
  await runIproute2(
    'bridge',
    ['fdb', 'replace', validateMac(entry.mac), 'dev', validateIfName(entry.dev), 'master', 'static', 'sticky'],
    ns,
  );
}
