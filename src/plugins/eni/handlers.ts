import { CniError, ErrorCode, isCniError } from '../../cni/errors.js';
import { failpoint } from '../../cni/failpoint.js';
import { logger } from '../../cni/log.js';
import { familyOf, type Result, type Route } from '../../cni/result.js';
import { parseResult } from '../../cni/result-parse.js';
import type { PluginHandlers, PluginRequest } from '../../cni/skel.js';
import { compareVersions } from '../../cni/version.js';
import {
  batch,
  findLinkByMac,
  getLink,
  type IpError,
  isExists,
  isNoNetns,
  listAddresses,
  listLinks,
  listRoutes,
  type Link,
  type NetnsRef,
} from '../../netlink/index.js';
import { netlinkError } from '../common/netlink-error.js';
import { netnsIfPresent, refuseOwnNetns, requireNetns } from '../common/netns.js';
import { Rollback } from '../common/rollback.js';
import {
  legacyFormatWarning,
  missingGatewayWarnings,
  parseEniConfig,
  type EniConfig,
  type ParseOptions,
} from './config.js';
import { canonicalCidr, canonicalIp, inSubnet, isLinkLocal } from './ip.js';
import { giveBack, MOVE_LINE, moveIntoTask, restoreHostName } from './move.js';
import { ALIAS_MAX_BYTES, encodeAlias, METADATA_BLACKHOLES, parseAlias, type EniRecord } from './record.js';
import { findInPlace } from './repeat.js';

export interface EniOptions {
  // The netns the ENIs live in when no task holds them: the runtime's own (undefined) in
  // production; a test's "host" namespace when the plugin runs in-process.
  hostNs?: NetnsRef;
}

// The config of any verb; one in the pre-2020 format says so in the plugin log.
const readConfig = (req: PluginRequest, options: ParseOptions): EniConfig => {
  const conf = parseEniConfig(req.config, req.args, options);
  if (conf.legacy) logger.warn(legacyFormatWarning(conf.legacy));
  return conf;
};

const defaultRoute = (gw: string): Route => ({ dst: familyOf(gw) === 4 ? '0.0.0.0/0' : '::/0', gw });

// A gateway outside every subnet of the ENI's addresses (e.g. a /32 address) is not reachable by
// a connected route, so the kernel refuses the route unless told the gateway is on the link.
const needsOnlink = (gw: string, addresses: string[]): boolean =>
  !isLinkLocal(gw) && !addresses.some((a) => inSubnet(gw, a));

// A 0.1.0/0.2.0 result is one address per family and nothing else, and the skel refuses to print
// one without addresses: refused before anything moves, or the runtime would see a failed ADD
// that left the ENI in the task netns.
const refuseUnreportable = (conf: EniConfig, cniVersion: string): void => {
  if (conf.stayDown && compareVersions(cniVersion, '0.3.0') < 0) {
    const field = conf.dialect === 'ecs-eni' ? 'stay-down' : 'opStateDown';
    throw new CniError(
      ErrorCode.InvalidNetworkConfig,
      `invalid ${field} true: ${field} needs cniVersion 0.3.0 or later (a ${cniVersion} result cannot report an interface without addresses)`,
    );
  }
};

// On EC2 an ENI shows up some time after it is attached, so "not there" is code 11: the runtime
// may try again.
const notAttached = (conf: EniConfig): CniError =>
  new CniError(
    ErrorCode.TryAgainLater,
    conf.name
      ? `ENI ${conf.name} not found in the host network namespace (not attached yet?); try again later`
      : `no link with MAC ${conf.mac} in the host network namespace: the ENI may not be attached yet; try again later`,
  );

// By name when the config names the link (vpc-eni eniName), else by MAC; null when not there.
const findEni = async (conf: EniConfig, host: NetnsRef): Promise<Link | null> => {
  if (conf.name) {
    const link = await getLink(conf.name, host);
    if (!link) return null;
    if (!link.mac) throw new CniError(ErrorCode.Plugin, `link ${conf.name} has no MAC address: not an ENI`);
    if (conf.mac && link.mac.toLowerCase() !== conf.mac) {
      throw new CniError(ErrorCode.Plugin, `link ${conf.name} has MAC ${link.mac}, not the configured ${conf.mac}`);
    }
    return link;
  }
  // A VLAN on an ENI shares its MAC; like vpc-eni, the shortest name (the parent) wins.
  const [link] = (await listLinks(host))
    .filter((l) => l.mac?.toLowerCase() === conf.mac)
    .sort((x, y) => x.name.length - y.name.length || x.ifindex - y.ifindex);
  return link ?? null;
};

// The metadata blackholes this ADD will add: those the task netns lacks. One already there
// (another plugin's, the runtime's) is left to its owner, on DEL too. A route of another type to
// the same address would be overwritten by the blackhole (and taken by the DEL of it: IPv6
// deletes by address whatever the type), so it is refused before anything moves.
const blackholesToAdd = async (netns: string): Promise<string[]> => {
  const routes = await listRoutes({}, netns);
  return METADATA_BLACKHOLES.filter((dst) => {
    const same = routes.find((r) => canonicalCidr(r.dst) === dst);
    if (same && same.type !== 'blackhole') {
      throw new CniError(
        ErrorCode.Plugin,
        `cannot block instance metadata in ${netns}: it already has a ${same.type} route to ${dst}${same.dev ? ` dev ${same.dev}` : ''}`,
      );
    }
    return !same;
  });
};

// What DEL will need (record.ts). An ENI that still carries a record never came home through a
// DEL (its task netns died and the kernel returned it under any free name): that record, not its
// present name, MTU and alias, says what it was in the host.
const recordFor = (eni: Link, blackholes: string[]): EniRecord => {
  const earlier = parseAlias(eni.alias);
  const record = earlier ? { ...earlier, blackholes } : { name: eni.name, mtu: eni.mtu, alias: eni.alias, blackholes };
  if (Buffer.byteLength(encodeAlias(record)) > ALIAS_MAX_BYTES) {
    throw new CniError(
      ErrorCode.Plugin,
      `the alias of ENI ${eni.mac} (${eni.name}) is too long to keep: ecs-eni records it in the alias, with the ENI's host name and MTU, within the kernel's ${ALIAS_MAX_BYTES} bytes; shorten or clear it`,
    );
  }
  return record;
};

// Everything the task needs, in one `ip -batch` inside its netns: MTU and up first (IPv6 needs
// the link up for its routes, and an MTU below 1280 would turn IPv6 off), then the addresses,
// the metadata blackholes and one default route per gateway. IPv6 addresses skip DAD: the VPC
// assigns each address to exactly one ENI, and DAD would only hold back the task's first packets.
const configureTask = async (req: PluginRequest, conf: EniConfig, record: EniRecord, netns: string): Promise<void> => {
  const changes = batch(netns).linkSet(req.ifname, { ...(conf.mtu ? { mtu: conf.mtu } : {}), up: true });
  for (const address of conf.addresses) changes.addrAdd(req.ifname, address, { noDad: true });
  for (const dst of record.blackholes) changes.routeAdd({ dst, type: 'blackhole' });
  for (const gw of conf.gateways) {
    changes.routeAdd({ dst: 'default', via: gw, dev: req.ifname, onlink: needsOnlink(gw, conf.addresses) });
  }
  await changes.run();
};

const buildResult = (req: PluginRequest, conf: EniConfig, eni: Link, prev: Result | undefined): Result => {
  const interfaces = [
    ...(prev?.interfaces ?? []),
    { name: req.ifname, mac: eni.mac!, mtu: conf.stayDown || !conf.mtu ? eni.mtu : conf.mtu, sandbox: req.netns },
  ];
  const index = interfaces.length - 1;
  // A link that stays down has nothing configured, so nothing but the interface is reported.
  const ours = conf.stayDown
    ? []
    : conf.addresses.map((address) => {
        const gateway = conf.gateways.find((gw) => familyOf(gw) === familyOf(address));
        return { address, ...(gateway ? { gateway } : {}), interface: index };
      });
  // The blackholes are not listed: a CNI route has no type, and a consumer would read
  // {dst: 169.254.169.254/32} as a route *to* the metadata service. CHECK verifies them instead.
  const routes = conf.stayDown ? [] : conf.gateways.map(defaultRoute);
  return {
    cniVersion: req.cniVersion,
    interfaces,
    ips: [...(prev?.ips ?? []), ...ours],
    routes: [...(prev?.routes ?? []), ...routes],
    ...(prev?.dns ? { dns: prev.dns } : {}),
  };
};

const eniLabel = (conf: EniConfig, eni: Link): string =>
  `ENI ${conf.eniId ? `${conf.eniId} ` : ''}${eni.mac} (${eni.name})`;

// Each verb marks the end of its phases for the debug timing (docs/plugin-logs.md).
export const createEniHandlers = ({ hostNs }: EniOptions = {}): PluginHandlers => ({
  async add(req) {
    const { phases } = req;
    const conf = readConfig(req, { requireEni: true });
    refuseUnreportable(conf, req.cniVersion);
    phases.mark('config');
    const netns = await requireNetns(req.netns);
    await refuseOwnNetns(netns, hostNs);
    phases.mark('netns-check');
    const prev = req.config.prevResult ? parseResult(req.config.prevResult, req.cniVersion) : undefined;
    for (const warning of missingGatewayWarnings(req.config, conf)) logger.warn(`ecs-eni: ${warning}`);
    const eni = await findEni(conf, hostNs).catch((e: unknown) => {
      throw netlinkError('looking for the ENI in the host netns', e);
    });
    phases.mark('eni-find');
    if (!eni) {
      // Not in the host: maybe a repeated ADD whose first run went through (repeat.ts).
      const placed = await findInPlace(conf, req.ifname, netns).catch((e: unknown) => {
        throw netlinkError(`looking for the ENI in ${netns} as ${req.ifname}`, e);
      });
      if (!placed) throw notAttached(conf);
      phases.mark('in-place-check');
      logger.info(
        `ecs-eni: ENI ${placed.mac} is already in ${netns} as ${req.ifname}, as the config says: a repeated ADD, same result`,
      );
      return buildResult(req, conf, placed, prev);
    }
    failpoint(req.env, 'eni:after-find');
    const blackholes =
      conf.stayDown || !conf.blockInstanceMetadata
        ? []
        : await blackholesToAdd(netns).catch((e: unknown) => {
            throw netlinkError(`reading the routes of ${netns}`, e);
          });
    const record = recordFor(eni, blackholes);
    if (conf.blockInstanceMetadata && !conf.stayDown) phases.mark('routes-read');

    const rollback = new Rollback();
    // Registered before the move: a move that fails half way (see move.ts) leaves the ENI in the
    // task netns under its host name, and this finds it there by MAC whatever its name.
    rollback.push(`give ${eniLabel(conf, eni)} back to the host`, async () => {
      const link = await findLinkByMac(eni.mac!, netns).catch((e: unknown) => {
        if (isNoNetns(e)) return null;
        throw e;
      });
      if (!link) return;
      await giveBack(netns, hostNs, { current: link.name, mac: eni.mac!, record });
    });
    try {
      await moveIntoTask(eni, record, hostNs, netns, req.ifname).catch((e: unknown) => {
        if (isExists(e) && (e as IpError).batchIndex === MOVE_LINE) {
          throw new CniError(ErrorCode.Plugin, `interface ${req.ifname} already exists in ${netns}`, undefined, {
            cause: e,
          });
        }
        throw netlinkError(`moving ${eniLabel(conf, eni)} into ${netns} as ${req.ifname}`, e);
      });
      phases.mark('eni-move');
      failpoint(req.env, 'eni:after-move');
      // stay-down / opStateDown (upstream: the link's user, e.g. a microVM, configures it): moved
      // and renamed, nothing else.
      if (!conf.stayDown) {
        await configureTask(req, conf, record, netns).catch((e: unknown) => {
          throw netlinkError(`configuring ${req.ifname} in ${netns}`, e);
        });
        phases.mark('address-route-set');
        failpoint(req.env, 'eni:after-configure');
      }
      rollback.commit();
    } catch (error) {
      await rollback.run();
      throw error;
    }
    logger.info(
      `ecs-eni: moved ${eniLabel(conf, eni)} into ${netns} as ${req.ifname}${conf.stayDown ? ' (left down)' : ''}`,
    );
    return buildResult(req, conf, eni, prev);
  },

  // The ENI goes back to the host under its host name, down, unaddressed, with the MTU and alias
  // it had, and the blackholes its ADD added leave the task netns. Idempotent: a netns
  // that is gone, an interface that is not there (already given back, never added) is success.
  async del(req) {
    const { phases } = req;
    const conf = readConfig(req, { requireEni: false });
    phases.mark('config');
    try {
      const netns = await netnsIfPresent(req.netns);
      if (netns) await refuseOwnNetns(netns, hostNs);
      phases.mark('netns-check');
      if (netns) {
        const noNetns = (e: unknown): null => {
          if (isNoNetns(e)) return null;
          throw e;
        };
        const named = await getLink(req.ifname, netns).catch(noNetns);
        let link =
          named && (parseAlias(named.alias) || (conf.mac && named.mac?.toLowerCase() === conf.mac)) ? named : null;
        // A give-back cut short leaves the ENI in the task netns under its fallback name (the
        // batch renames it before the move; the move fails when the runtime that ran the plugin
        // in-process died: /proc/PID/ns/net, the move's target, went with it). Find it by MAC, as
        // ADD's rollback does, when it carries ecs-eni's alias.
        if (!link && conf.mac) {
          const stray = await findLinkByMac(conf.mac, netns).catch(noNetns);
          if (stray && parseAlias(stray.alias)) link = stray;
        }
        phases.mark('eni-find');
        if (link) {
          const name = await giveBack(netns, hostNs, {
            current: link.name,
            mac: (link.mac ?? '').toLowerCase(),
            record: parseAlias(link.alias),
          });
          phases.mark('eni-give-back');
          logger.info(`ecs-eni: gave ENI ${link.mac} back to the host netns as ${name}`);
          return;
        }
        if (named)
          logger.warn(
            `ecs-eni: ${req.ifname} in ${netns} was not put there by ecs-eni (MAC ${named.mac ?? 'none'}); left alone`,
          );
      }
      // The task netns is gone (the kernel returned the ENI to the host under any free name) or
      // the ENI is not in it: make sure the ENI, if in the host, has its host name back.
      if (conf.mac || conf.name) {
        await restoreHostName(hostNs, (l) =>
          conf.mac ? l.mac?.toLowerCase() === conf.mac : parseAlias(l.alias)?.name === conf.name,
        );
        phases.mark('host-name-restore');
      }
    } catch (error) {
      throw netlinkError(`giving the ENI of ${req.ifname} back to the host`, error);
    }
  },

  // cni-conformance G: the interface is in the sandbox with prevResult's MAC, addresses and
  // routes (prevResult, not the config, so later plugins' changes are honoured: G.52), plus the
  // metadata blackholes when the config asks for them (they are not in the result).
  async check(req) {
    const { phases } = req;
    const conf = readConfig(req, { requireEni: false });
    phases.mark('config');
    const netns = await requireNetns(req.netns);
    phases.mark('netns-check');
    if (!req.config.prevResult) throw new CniError(ErrorCode.InvalidNetworkConfig, 'required prevResult missing');
    const prev = parseResult(req.config.prevResult, req.cniVersion);
    const fail = (what: string): never => {
      throw new CniError(ErrorCode.Plugin, `CHECK ${req.ifname}: ${what}`);
    };
    const index = prev.interfaces?.findIndex((i) => i.name === req.ifname && i.sandbox !== undefined) ?? -1;
    const expected =
      index >= 0 ? prev.interfaces![index]! : fail(`prevResult has no interface ${req.ifname} with a sandbox`);
    if (expected.sandbox !== req.netns)
      fail(`sandbox in prevResult ${expected.sandbox} does not match CNI_NETNS ${req.netns}`);
    try {
      const link = await getLink(req.ifname, netns);
      if (!link) return fail(`interface is missing from ${netns}`);
      if (expected.mac && link.mac?.toLowerCase() !== expected.mac.toLowerCase()) {
        fail(`interface has MAC ${link.mac ?? 'none'}, prevResult says ${expected.mac}`);
      }
      if (conf.stayDown) return phases.mark('interface-check');
      if (!link.up) fail('interface is down');
      const addresses = new Set((await listAddresses({ dev: req.ifname }, netns)).map((a) => canonicalCidr(a.cidr)));
      for (const ip of prev.ips ?? []) {
        if (ip.interface === index && !addresses.has(canonicalCidr(ip.address)))
          fail(`address ${ip.address} is missing`);
      }
      const routes = await listRoutes({}, netns);
      for (const route of prev.routes ?? []) {
        const found = routes.some(
          (r) =>
            canonicalCidr(r.dst) === canonicalCidr(route.dst) &&
            (!route.gw || (r.gateway !== undefined && canonicalIp(r.gateway) === canonicalIp(route.gw))),
        );
        if (!found) fail(`route ${route.dst}${route.gw ? ` via ${route.gw}` : ''} is missing`);
      }
      if (conf.blockInstanceMetadata) {
        for (const dst of METADATA_BLACKHOLES) {
          if (!routes.some((r) => r.type === 'blackhole' && canonicalCidr(r.dst) === canonicalCidr(dst))) {
            fail(`blackhole route ${dst} (block-instance-metadata) is missing`);
          }
        }
      }
      phases.mark('interface-check');
    } catch (error) {
      throw netlinkError(`CHECK ${req.ifname} in ${netns}`, error);
    }
  },

  // Ready unless the config itself cannot serve an ADD (code 50). The ENI may be attached later,
  // so its absence is ADD's code 11, not a STATUS failure.
  async status(req) {
    try {
      readConfig(req, { requireEni: false });
      req.phases.mark('config');
    } catch (error) {
      if (!isCniError(error)) throw error;
      throw new CniError(ErrorCode.NotReady, `cannot serve ADD: ${error.message}`);
    }
  },

  // Nothing to collect: ENIs are not pooled or leased by this plugin. An ENI whose task netns is
  // gone is already back in the host (the kernel returns physical links to the initial netns),
  // and the next DEL or ADD of it restores its host name from the alias.
  async gc() {},
});
