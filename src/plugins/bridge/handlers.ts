import { sha256 } from '@noble/hashes/sha2.js';
import { delegate, type DelegateOptions } from '../../cni/delegate.js';
import { CniError, ErrorCode } from '../../cni/errors.js';
import { failpoint } from '../../cni/failpoint.js';
import { attachmentKey, validAttachments } from '../../cni/gc.js';
import { familyOf, type Interface, type IpConfig, type Result, type Route } from '../../cni/result.js';
import { parseResult } from '../../cni/result-parse.js';
import type { PluginHandlers, PluginRequest } from '../../cni/skel.js';
import {
  type Address,
  batch,
  deleteLink,
  getLink,
  type IpBatch,
  IpError,
  isExists,
  isNotFound,
  type Link,
  listAddresses,
  listLinks,
  listRoutes,
  type NetnsRef,
  parseLinkWithAddresses,
} from '../../netlink/index.js';
import { netlinkStep } from '../common/netlink-error.js';
import { netnsIfPresent, refuseOwnNetns, requireNetns } from '../common/netns.js';
import { Rollback } from '../common/rollback.js';
import { parseBridgeConfig, type BridgeConfig } from './config.js';

export interface BridgeOptions {
  // The netns that holds the bridge and the host veth ends: the runtime's own (undefined) in
  // production; a test's "host" namespace when the plugin runs in-process.
  hostNs?: NetnsRef;
}

// ecs-ipam of this package runs in-process when CNI_PATH resolves `ipam.type` to our launcher.
const delegateOptions: DelegateOptions = {
  inProcess: { 'ecs-ipam': async () => (await import('../../ipam/plugin.js')).plugin },
};

const ALIAS_PREFIX = 'tasknet:';

// SHA-256 from @noble/hashes, not node:crypto: loading node:crypto costs an exec'd plugin ~5 ms
// of start-up (its module graph), far more than hashing a few bytes in JS.
const utf8 = (text: string): Uint8Array => Buffer.from(text, 'utf8');
const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

// The host end is named after the attachment, not at random (upstream: veth + 4 random bytes),
// so DEL and GC find it without the netns; the alias records whose it is, guarding DEL against a
// name collision (44 bits of a hash: ~3e-8 for 1000 tasks on one host).
export const hostVethName = (containerId: string, ifname: string): string =>
  `veth${hex(sha256(utf8(attachmentKey(containerId, ifname)))).slice(0, 11)}`;
const vethAlias = (containerId: string, ifname: string): string =>
  `${ALIAS_PREFIX}${attachmentKey(containerId, ifname)}`;

// A stable locally-administered unicast MAC per bridge name. Upstream sets a random one when it
// creates the bridge (amazon-ecs-cni-plugins#111); deriving it from the name keeps it stable across
// re-creation too, so task ARP caches never go stale because the bridge came back.
export const bridgeMac = (name: string): string => macFromSeed(`tasknet-bridge:${name}`);

// A locally-administered unicast MAC from a hash: the same seed always gives the same MAC.
const macFromSeed = (seed: string): string => {
  const bytes = sha256(utf8(seed)).subarray(0, 6);
  bytes[0] = (bytes[0]! | 0x02) & 0xfe;
  return formatMac(bytes);
};

const formatMac = (bytes: Iterable<number>): string => [...bytes].map((b) => b.toString(16).padStart(2, '0')).join(':');

// The 16 bytes of an IPv6 address ("::" expanded).
const ipv6Bytes = (address: string): number[] => {
  const [head = '', tail] = address.split('::');
  const groups = (part: string) => (part === '' ? [] : part.split(':'));
  const parts =
    tail === undefined
      ? groups(head)
      : [...groups(head), ...Array(8 - groups(head).length - groups(tail).length).fill('0'), ...groups(tail)];
  return parts.flatMap((g) => {
    const n = parseInt(g, 16);
    return [n >> 8, n & 0xff];
  });
};

// upstream SetHWAddrByIP: 0a:58 + the four bytes of the task's IPv4 address, so the bridge side
// can derive the MAC from the IP (169.254.172.2 -> 0a:58:a9:fe:ac:02). Upstream leaves an
// IPv6-only task with a random MAC; we use the last four bytes of its first IPv6 address (unique
// within a pool handed out sequentially), so the MAC is known without asking the kernel.
export const containerMac = (ips: IpConfig[]): string => {
  const v4 = ips.find((ip) => familyOf(ip.address) === 4);
  const bytes = v4 ? ipOf(v4.address).split('.').map(Number) : ipv6Bytes(ipOf(ips[0]!.address)).slice(12);
  return formatMac([0x0a, 0x58, ...bytes]);
};

// The host end's MAC, derived like its name, so ADD never has to read it back.
const hostVethMac = (containerId: string, ifname: string): string =>
  macFromSeed(`tasknet-veth:${attachmentKey(containerId, ifname)}`);

const ipOf = (cidr: string): string => cidr.split('/')[0]!;
const prefixOf = (cidr: string): string => cidr.split('/')[1]!;
const hostRoute = (ip: string): string => `${ip}/${familyOf(ip) === 4 ? 32 : 128}`;

// upstream's checks on the IPAM answer: one or two addresses, each with a gateway.
const requireIpamAddresses = (type: string, result: Result | undefined): IpConfig[] => {
  const ips = result?.ips ?? [];
  if (ips.length < 1 || ips.length > 2) {
    throw new CniError(ErrorCode.Plugin, `IPAM plugin ${type} returned ${ips.length} addresses, expected 1 or 2`);
  }
  ips.forEach((ip, i) => {
    if (!ip.gateway)
      throw new CniError(ErrorCode.Plugin, `IPAM plugin ${type} returned no gateway for ips[${i}] ${ip.address}`);
    if (familyOf(ip.gateway) !== familyOf(ip.address)) {
      throw new CniError(
        ErrorCode.Plugin,
        `IPAM plugin ${type} returned gateway ${ip.gateway} of another family than ${ip.address}`,
      );
    }
  });
  return ips;
};

const requireIpamType = (conf: BridgeConfig, verb: string): string => {
  if (!conf.ipamType)
    throw new CniError(ErrorCode.InvalidNetworkConfig, `invalid ipam.type: ${verb} needs an IPAM plugin`);
  return conf.ipamType;
};

type BridgeRead = { link: Link; addresses: Address[] };

// The host end onto the bridge: on it, isolated, both up.
const attach = (b: IpBatch, bridge: string, hostVeth: string): IpBatch =>
  b
    .linkSet(hostVeth, { master: bridge, up: true })
    .linkSet(hostVeth, { bridgePort: { isolated: true } })
    .linkSet(bridge, { up: true });

// The same, the bridge read first: a missing bridge stops the batch at the read, with nothing
// after it done (the host end not attached yet). ADD puts these lines after the veth's creation,
// so the common case (the bridge is there) is one `ip` process for the host side.
const attachLines = (b: IpBatch, bridge: string, hostVeth: string): IpBatch =>
  attach(b.showLinkWithAddresses(bridge), bridge, hostVeth);

// A bridge name taken by another kind of link is a config problem, said in those words (the
// attach itself may have failed for it, or worked: a bond takes the veth too).
const requireBridge = (conf: BridgeConfig, read: BridgeRead): BridgeRead => {
  if (read.link.kind !== 'bridge') {
    throw new CniError(
      ErrorCode.Plugin,
      `interface ${conf.bridge} already exists, but is not a bridge (kind ${read.link.kind ?? 'unknown'})`,
    );
  }
  return read;
};

// Runs a batch that ends with attachLines (the read at `readIndex`): the bridge as read, or null
// when there is none (the host end is then not attached).
const runAttach = async (b: IpBatch, readIndex: number, conf: BridgeConfig): Promise<BridgeRead | null> => {
  try {
    const outputs = await b.run();
    const read = parseLinkWithAddresses(outputs[0]);
    if (!read) throw new CniError(ErrorCode.Plugin, `ip printed no link for bridge ${conf.bridge}`);
    return requireBridge(conf, read);
  } catch (error) {
    if (!(error instanceof IpError)) throw error;
    if (error.batchIndex === readIndex && isNotFound(error)) return null;
    const read = error.batchOutputs[0] === undefined ? null : parseLinkWithAddresses(error.batchOutputs[0]);
    if (read) requireBridge(conf, read);
    throw error;
  }
};

const bridgeAddressFor = (ip: IpConfig): string => `${ip.gateway}/${prefixOf(ip.address)}`;

// Makes the missing bridge with the gateway of every IPAM address on it (with the IPAM prefix) and
// attaches the host end, in one process. Concurrent ADDs race harmlessly (amazon-ecs-cni-plugins#90):
// - another made the bridge first: our `link add` fails with EEXIST, and we attach to theirs;
// - we made it, but another ADD found it between our lines and added a gateway first: our
//   `addr add` fails with EEXIST, with the attach lines after it not run; we attach as if it were
//   theirs. Either way the caller then checks the gateways on the bridge as read.
const createBridge = async (
  conf: BridgeConfig,
  ips: IpConfig[],
  hostVeth: string,
  host: NetnsRef,
): Promise<BridgeRead | null> => {
  const create = batch(host).createBridge({ name: conf.bridge, mtu: conf.mtu, mac: bridgeMac(conf.bridge) });
  for (const ip of ips) create.addrAdd(conf.bridge, bridgeAddressFor(ip), { noDad: familyOf(ip.address) === 6 });
  try {
    await attach(create, conf.bridge, hostVeth).run();
    return null; // made as wanted: nothing to check
  } catch (error) {
    const index = (error as IpError).batchIndex;
    if (!isExists(error) || index === undefined || index > ips.length) throw error; // 0: link add, then addr adds
  }
  const found = await runAttach(attachLines(batch(host), conf.bridge, hostVeth), 0, conf);
  if (!found) throw new CniError(ErrorCode.Plugin, `bridge ${conf.bridge} was made and removed during this ADD`);
  return found;
};

// The gateway of every IPAM address on the bridge: added when missing; a different address of the
// same family (IPv6 link-local aside) means two configs disagree and is an error naming both.
const addGateways = async (conf: BridgeConfig, ips: IpConfig[], read: BridgeRead, host: NetnsRef): Promise<void> => {
  const changes = batch(host);
  for (const ip of ips) {
    const wanted = bridgeAddressFor(ip);
    const family = familyOf(ip.address);
    const same = read.addresses.filter(
      (a) => a.family === family && !(family === 6 && a.address.toLowerCase().startsWith('fe80:')),
    );
    if (same.some((a) => a.cidr === wanted)) continue;
    if (same.length > 0) {
      throw new CniError(
        ErrorCode.Plugin,
        `bridge ${conf.bridge} has address ${same.map((a) => a.cidr).join(', ')}, but the IPAM gateway needs ${wanted}`,
      );
    }
    changes.addrAdd(conf.bridge, wanted, { noDad: family === 6 });
  }
  try {
    await changes.run();
  } catch (error) {
    if (!isExists(error)) throw error; // a concurrent ADD added the same address first
  }
};

// The kernel drops IPv6 from a link whose MTU is below this (RFC 8200), and refuses IPv6 settings on it.
const IPV6_MIN_MTU = 1280;

const configureContainer = async (
  req: PluginRequest,
  netns: string,
  ips: IpConfig[],
  routes: Route[],
  mac: string,
  mtu: number,
): Promise<void> => {
  const ipv6 = ips.some((ip) => familyOf(ip.address) === 6);
  const changes = batch(netns);
  // Without IPv6 the link needs no link-local address, and so gets no fe80::/64 route to delete;
  // below IPv6's minimum MTU the link has no IPv6 at all (and addrgenmode fails with EAFNOSUPPORT).
  if (!ipv6 && mtu >= IPV6_MIN_MTU) changes.linkSet(req.ifname, { addrGenMode: 'none' });
  changes.linkSet(req.ifname, { mac, up: true });
  const gateways = new Map<4 | 6, string>();
  for (const ip of ips) {
    const family = familyOf(ip.address);
    // No connected subnet route: the task reaches the gateway by its /32 (or /128) route only,
    // so it cannot talk to other tasks on the bridge directly (upstream deletes that route after
    // the fact; noprefixroute never creates it). The host's ARP for the task is answered thanks to
    // the gateway route (agent#1230).
    changes.addrAdd(req.ifname, ip.address, { noPrefixRoute: true, noDad: family === 6 });
    changes.routeAdd({ dst: hostRoute(ip.gateway!), via: ip.gateway!, dev: req.ifname, onlink: true });
    if (!gateways.has(family)) gateways.set(family, ip.gateway!);
  }
  for (const route of routes) {
    const via = route.gw ?? gateways.get(familyOf(route.dst));
    if (!via)
      throw new CniError(
        ErrorCode.InvalidNetworkConfig,
        `route ${route.dst} has no gateway and no address of its family`,
      );
    if (via === ipOf(route.dst) && route.dst === hostRoute(via)) continue; // the gateway route itself
    changes.routeAdd({ dst: route.dst, via, dev: req.ifname, onlink: true });
  }
  await changes.run();
  failpoint(req.env, 'bridge:after-container-addresses');
  if (!ipv6) return;
  // What the kernel adds by itself (IPv6 link-local fe80::/64 once the link is up) goes too, as
  // upstream deletes every gateway-less route on the interface.
  const stray = (await listRoutes({ dev: req.ifname }, netns)).filter((r) => !r.gateway && r.type === 'unicast');
  if (stray.length > 0) {
    const cleanup = batch(netns);
    for (const r of stray) cleanup.routeDel({ dst: r.dst, dev: req.ifname });
    await cleanup.run();
  }
};

export const createBridgeHandlers = ({ hostNs }: BridgeOptions = {}): PluginHandlers => ({
  // Each verb marks the end of its phases for the debug timing (docs/plugin-logs.md).
  async add(req) {
    const { phases } = req;
    const conf = parseBridgeConfig(req.config);
    const ipamType = requireIpamType(conf, 'ADD');
    phases.mark('config');
    const netns = await requireNetns(req.netns);
    await refuseOwnNetns(netns, hostNs);
    phases.mark('netns-check');
    // IFALIASZ: the kernel keeps at most 255 bytes of alias, and DEL and GC match it exactly.
    if (Buffer.byteLength(vethAlias(req.containerId, req.ifname)) > 255) {
      throw new CniError(
        ErrorCode.InvalidEnvironment,
        `invalid CNI_CONTAINERID ${JSON.stringify(req.containerId.slice(0, 40))}...: longer than the ${255 - ALIAS_PREFIX.length - req.ifname.length - 1} bytes the host veth alias can record`,
      );
    }
    const prev = req.config.prevResult ? parseResult(req.config.prevResult, req.cniVersion) : undefined;
    const hostVeth = hostVethName(req.containerId, req.ifname);
    const hostMac = hostVethMac(req.containerId, req.ifname);
    const rollback = new Rollback();
    const deleteVeth = (): Promise<void> => deleteLink(hostVeth, hostNs).catch(ignoreNotFound);
    try {
      // The veth first, its container end created straight inside the netns: EEXIST here is the
      // spec's "CNI_IFNAME already exists" (or a host end a crashed ADD left for its DEL), found
      // before anything was allocated. Every MAC is derived, so nothing needs reading back.
      // The kernel ignores an alias given at creation, so it follows on the next line of the same
      // ip process; DEL also takes an alias-less veth of this name as ours (a crash in between).
      // The host end goes onto the bridge in the same process when the bridge is there (it is
      // read first); only the first ADD on a host makes it, below, once IPAM has given the gateway.
      const read = await netlinkStep(`creating veth ${hostVeth} with peer ${req.ifname} in ${netns}`, async () => {
        const create = batch(hostNs)
          .createVeth({ name: hostVeth, peerName: req.ifname, peerNetns: netns, mtu: conf.mtu, mac: hostMac })
          .linkSet(hostVeth, { alias: vethAlias(req.containerId, req.ifname) });
        try {
          return await runAttach(attachLines(create, conf.bridge, hostVeth), 2, conf);
        } catch (error) {
          if (error instanceof IpError && error.batchIndex === 0) {
            if (isExists(error) && (await getLink(req.ifname, netns))) {
              throw new CniError(
                ErrorCode.Plugin,
                `container veth name provided (${req.ifname}) already exists in ${netns}`,
              );
            }
            throw error; // nothing was made
          }
          rollback.push(`delete veth ${hostVeth}`, deleteVeth); // made, then a later line failed
          throw error;
        }
      });
      rollback.push(`delete veth ${hostVeth}`, deleteVeth);
      phases.mark('veth-create');
      failpoint(req.env, 'bridge:after-veth');

      const ipam = await delegate(ipamType, 'ADD', req, delegateOptions);
      rollback.push(`release the ${ipamType} allocation`, async () => {
        await delegate(ipamType, 'DEL', req, delegateOptions);
      });
      const ips = requireIpamAddresses(ipamType, ipam);
      const v6 = ips.find((ip) => familyOf(ip.address) === 6);
      if (v6 && conf.mtu < IPV6_MIN_MTU) {
        throw new CniError(
          ErrorCode.InvalidNetworkConfig,
          `invalid mtu ${conf.mtu}: IPv6 (${ipamType} gave ${v6.address}) needs at least ${IPV6_MIN_MTU}`,
        );
      }
      phases.mark('ipam-delegate');
      failpoint(req.env, 'bridge:after-ipam');

      // An isolated port: tasks on the bridge cannot exchange frames with each other, only with
      // the host, even if a task re-adds the subnet route that configureContainer leaves out
      // (upstream's isolation is that missing route alone, which the task itself can undo).
      const bridge = await netlinkStep(`setting up bridge ${conf.bridge}`, async () => {
        const found = read ?? (await createBridge(conf, ips, hostVeth, hostNs));
        if (found) await addGateways(conf, ips, found, hostNs);
        return { mac: found?.link.mac ?? bridgeMac(conf.bridge) };
      });
      phases.mark('bridge-ensure');
      failpoint(req.env, 'bridge:after-bridge');
      failpoint(req.env, 'bridge:after-attach');

      const mac = containerMac(ips);
      await netlinkStep(`configuring ${req.ifname} in ${netns}`, () =>
        configureContainer(req, netns, ips, ipam?.routes ?? [], mac, conf.mtu),
      );
      phases.mark('address-route-set');
      failpoint(req.env, 'bridge:after-container');

      const interfaces: Interface[] = [
        ...(prev?.interfaces ?? []),
        { name: conf.bridge, mac: bridge.mac },
        { name: hostVeth, mac: hostMac },
        { name: req.ifname, mac, sandbox: req.netns },
      ];
      const containerIndex = interfaces.length - 1;
      rollback.commit();
      return {
        cniVersion: req.cniVersion,
        interfaces,
        ips: [...(prev?.ips ?? []), ...ips.map((ip) => ({ ...ip, interface: containerIndex }))],
        routes: [...(prev?.routes ?? []), ...(ipam?.routes ?? [])],
        ...((prev?.dns ?? ipam?.dns) ? { dns: prev?.dns ?? ipam?.dns } : {}),
      };
    } catch (error) {
      await rollback.run();
      throw error;
    }
  },

  // Always release the address (also with the netns gone: upstream leaked it), then the veth.
  // Every part is idempotent; an IPAM failure is still reported, after the veth is gone. The host
  // end is looked up while IPAM releases (a read, in its own process), so only the delete waits.
  async del(req) {
    const { phases } = req;
    const conf = parseBridgeConfig(req.config);
    phases.mark('config');
    const netns = await netnsIfPresent(req.netns);
    if (netns) await refuseOwnNetns(netns, hostNs);
    phases.mark('netns-check');
    const hostVeth = hostVethName(req.containerId, req.ifname);
    const lookup = getLink(hostVeth, hostNs).then(
      (link) => ({ link }),
      (error: unknown) => ({ error }),
    );
    let ipamError: unknown;
    if (conf.ipamType) {
      await delegate(conf.ipamType, 'DEL', req, delegateOptions).catch((error: unknown) => {
        ipamError = error;
      });
      phases.mark('ipam-delegate');
    }
    await netlinkStep(`deleting the veth of ${req.ifname}`, async () => {
      const found = await lookup;
      if ('error' in found) throw found.error;
      const { link } = found;
      // Ours: our alias, or none yet (an ADD killed between creating the veth and naming it).
      if (link && (link.alias === undefined || link.alias === vethAlias(req.containerId, req.ifname))) {
        await deleteLink(hostVeth, hostNs).catch(ignoreNotFound);
      } else if (!link) {
        // A veth made by another plugin version (random host name): remove the container end.
        const container = netns ? await getLink(req.ifname, netns, { details: true }) : null;
        if (netns && container?.kind === 'veth') await deleteLink(req.ifname, netns).catch(ignoreNotFound);
      }
    });
    phases.mark('veth-delete');
    if (ipamError) throw ipamError;
  },

  async check(req) {
    const { phases } = req;
    const conf = parseBridgeConfig(req.config);
    const ipamType = requireIpamType(conf, 'CHECK');
    phases.mark('config');
    const netns = await requireNetns(req.netns);
    await refuseOwnNetns(netns, hostNs);
    phases.mark('netns-check');
    if (!req.config.prevResult) throw new CniError(ErrorCode.InvalidNetworkConfig, 'required prevResult missing');
    const prev = parseResult(req.config.prevResult, req.cniVersion);
    await delegate(ipamType, 'CHECK', req, delegateOptions);
    phases.mark('ipam-delegate');
    await netlinkStep(`CHECK ${conf.bridge}/${req.ifname}`, () => checkAttachment(req, conf, netns, prev, hostNs));
    phases.mark('attachment-check');
  },

  async status(req) {
    const { phases } = req;
    const conf = parseBridgeConfig(req.config);
    phases.mark('config');
    const link = await netlinkStep(`looking up bridge ${conf.bridge}`, () =>
      getLink(conf.bridge, hostNs, { details: true }),
    );
    if (link && link.kind !== 'bridge') {
      throw new CniError(
        ErrorCode.NotReady,
        `interface ${conf.bridge} exists but is not a bridge (kind ${link.kind ?? 'unknown'})`,
      );
    }
    phases.mark('bridge-check');
    if (conf.ipamType) {
      await delegate(conf.ipamType, 'STATUS', req, delegateOptions);
      phases.mark('ipam-delegate');
    }
  },

  // Host veths on our bridge carry their attachment in the alias; the ones of attachments the
  // runtime no longer knows are removed, then IPAM collects its own.
  async gc(req) {
    const { phases } = req;
    const conf = parseBridgeConfig(req.config);
    const keep = new Set(
      validAttachments(req.config).map((a) => `${ALIAS_PREFIX}${attachmentKey(a.containerId, a.ifname)}`),
    );
    phases.mark('config');
    const errors: string[] = [];
    if (conf.ipamType) {
      await delegate(conf.ipamType, 'GC', req, delegateOptions).catch((e: Error) => errors.push(e.message));
      phases.mark('ipam-delegate');
    }
    const ports = await netlinkStep(`listing the ports of bridge ${conf.bridge}`, () => listLinks(hostNs));
    const stale = ports.filter(
      (l) => l.master === conf.bridge && l.alias?.startsWith(ALIAS_PREFIX) && !keep.has(l.alias),
    );
    for (const link of stale)
      await deleteLink(link.name, hostNs).catch((e: Error) => {
        if (!isNotFound(e)) errors.push(e.message);
      });
    phases.mark('veth-gc');
    if (errors.length > 0) throw new CniError(ErrorCode.Plugin, `GC: ${errors.join('; ')}`);
  },
});

const ignoreNotFound = (error: unknown): void => {
  if (!isNotFound(error)) throw error;
};

// CHECK (cni-conformance G.51): the bridge, the veth pair wired to it, and every address and route
// of prevResult, compared with prevResult (a later plugin may have changed the MAC: G.52).
const checkAttachment = async (
  req: PluginRequest,
  conf: BridgeConfig,
  netns: string,
  prev: Result,
  hostNs: NetnsRef,
): Promise<void> => {
  const fail = (what: string): never => {
    throw new CniError(ErrorCode.Plugin, `CHECK ${conf.bridge}/${req.ifname}: ${what}`);
  };
  const index = prev.interfaces?.findIndex((i) => i.name === req.ifname && i.sandbox !== undefined) ?? -1;
  const expected =
    index >= 0 ? prev.interfaces![index]! : fail(`prevResult has no interface ${req.ifname} with a sandbox`);
  if (expected.sandbox !== req.netns)
    fail(`sandbox in prevResult ${expected.sandbox} does not match CNI_NETNS ${req.netns}`);
  const bridge = await getLink(conf.bridge, hostNs, { details: true });
  if (!bridge) fail(`bridge ${conf.bridge} is missing`);
  if (bridge!.kind !== 'bridge') fail(`${conf.bridge} is not a bridge`);
  const container = await getLink(req.ifname, netns, { details: true });
  if (!container) fail(`interface ${req.ifname} is missing from ${netns}`);
  if (container!.kind !== 'veth') fail(`interface ${req.ifname} is a ${container!.kind ?? 'unknown'}, not a veth`);
  if (expected.mac && container!.mac?.toLowerCase() !== expected.mac.toLowerCase()) {
    fail(`interface ${req.ifname} has MAC ${container!.mac}, prevResult says ${expected.mac}`);
  }
  const hostVeth = await getLink(hostVethName(req.containerId, req.ifname), hostNs);
  if (!hostVeth || hostVeth.ifindex !== container!.peerIfindex) fail(`the host end of ${req.ifname} is missing`);
  if (hostVeth!.master !== conf.bridge) fail(`host veth ${hostVeth!.name} is not attached to ${conf.bridge}`);
  const addresses = new Set((await listAddresses({ dev: req.ifname }, netns)).map((a) => a.cidr));
  for (const ip of prev.ips ?? []) {
    if (ip.interface === index && !addresses.has(ip.address))
      fail(`address ${ip.address} is missing from ${req.ifname}`);
  }
  const routes = await listRoutes({}, netns);
  for (const route of prev.routes ?? []) {
    if (!routes.some((r) => r.dst === route.dst && (!route.gw || r.gateway === route.gw))) {
      fail(`route ${route.dst}${route.gw ? ` via ${route.gw}` : ''} is missing`);
    }
  }
};
