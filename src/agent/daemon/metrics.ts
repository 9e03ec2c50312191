// The agent's Prometheus metrics (prom-client, on a registry of its own, so nothing else in the
// process can add to or reset them). Served as GET /metrics on the control socket and, when asked
// (--metrics-address), on a loopback TCP port that serves nothing else but /health.
// docs/agent.md lists every metric and its labels.
import { createServer, type Server } from 'node:http';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { buildInfo } from '../../cni/build-info.js';
import type { RuntimeKind } from '../runtime/runtime.js';
import { SUMMARY_STATUSES, type TaskSummary } from '../task/record.js';
import type { PluginCall } from '../task/network.js';

// The states `tasknet ls` shows without --all; each is exported, 0 included, so a query for one
// never finds nothing.
const TASK_STATES = SUMMARY_STATUSES.filter((s) => s !== 'STOPPED');

// A task start: ~0.2 s on the process runtime, ~1 s on the engine, minutes for a slow health check.
const START_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
// One plugin call: tens of milliseconds in-process, a Node start-up more when exec'd.
const CNI_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

const PATH_CLASSES = ['credentials', 'metadata', 'other'] as const;
export type PathClass = (typeof PATH_CLASSES)[number];

// What a task asked the endpoint for, by path: the metric must not grow a label value per id.
export const pathClass = (path: string): PathClass => {
  if (/^\/v2\/credentials(\/|$)/.test(path)) return 'credentials';
  if (/^\/(v3|v4)(\/|$)/.test(path) || /^\/v2\/(metadata|stats)(\/|$)/.test(path)) return 'metadata';
  return 'other';
};

export interface MetricsOptions {
  tasks: () => TaskSummary[]; // the live tasks, read at each scrape
  processMetrics: boolean; // prom-client's default process and Node.js metrics
}

export class AgentMetrics {
  readonly registry = new Registry();
  private readonly taskStart: Histogram<'runtime' | 'result'>;
  private readonly cniDuration: Histogram<'plugin' | 'verb' | 'result'>;
  private readonly cniErrors: Counter<'plugin' | 'verb' | 'code'>;
  private readonly endpointRequests: Counter<'path' | 'status'>;

  constructor(options: MetricsOptions) {
    const registers = [this.registry];
    new Gauge({
      name: 'tasknet_tasks',
      help: 'Tasks the agent has, by state (FAILED: records it could not read, kept for a human)',
      labelNames: ['state'],
      registers,
      collect() {
        const counts = new Map<string, number>(TASK_STATES.map((s) => [s, 0]));
        for (const task of options.tasks()) counts.set(task.status, (counts.get(task.status) ?? 0) + 1);
        for (const [state, n] of counts) this.set({ state }, n);
      },
    });
    this.taskStart = new Histogram({
      name: 'tasknet_task_start_duration_seconds',
      help: 'From the task record to every container started (result: success, or error for a start that failed)',
      labelNames: ['runtime', 'result'],
      buckets: START_BUCKETS,
      registers,
    });
    this.cniDuration = new Histogram({
      name: 'tasknet_cni_plugin_duration_seconds',
      help: "One CNI plugin call by the agent (ecs-bridge's includes its ecs-ipam delegate), by plugin, verb and result",
      labelNames: ['plugin', 'verb', 'result'],
      buckets: CNI_BUCKETS,
      registers,
    });
    this.cniErrors = new Counter({
      name: 'tasknet_cni_errors_total',
      help: 'CNI plugin calls that failed, by plugin, verb and CNI error code',
      labelNames: ['plugin', 'verb', 'code'],
      registers,
    });
    this.endpointRequests = new Counter({
      name: 'tasknet_endpoint_requests_total',
      help: `Requests answered by the credentials and metadata endpoint, by path class (${PATH_CLASSES.join(', ')}) and HTTP status`,
      labelNames: ['path', 'status'],
      registers,
    });
    const build = buildInfo();
    new Gauge({
      name: 'tasknet_build_info',
      help: "The agent's version and git commit (always 1)",
      labelNames: ['version', 'commit'],
      registers,
    }).set({ version: build.version, commit: build.gitShortHash }, 1);
    // The event-loop delay monitor samples every eventLoopMonitoringPrecision ms: prom-client's 10 ms
    // default woke the idle agent 100 times a second, ~0.5% of a core (bench section 10); 100 ms
    // still shows a lag that matters to a task's credentials request.
    if (options.processMetrics) collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: 100 });
  }

  taskStarted(runtime: RuntimeKind, seconds: number, ok: boolean): void {
    this.taskStart.observe({ runtime, result: ok ? 'success' : 'error' }, seconds);
  }

  pluginCalled(call: PluginCall): void {
    this.cniDuration.observe(
      { plugin: call.plugin, verb: call.verb, result: call.code === undefined ? 'success' : 'error' },
      call.seconds,
    );
    if (call.code !== undefined) this.cniErrors.inc({ plugin: call.plugin, verb: call.verb, code: String(call.code) });
  }

  endpointAnswered(path: string, status: number): void {
    this.endpointRequests.inc({ path: pathClass(path), status: String(status) });
  }

  // The text exposition format, with the content type that names its version.
  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}

// The TCP listener of --metrics-address: /metrics and a bare /health, nothing of the control API.
// A scraper needs a connection or two; the limits keep a slow or hostile client (with
// --metrics-allow-remote, anyone who can reach the port) from holding the agent's descriptors.
export const METRICS_LIMITS = { maxConnections: 16, headersTimeoutMs: 10_000, requestTimeoutMs: 30_000 };

export const createMetricsServer = (metrics: AgentMetrics, limits = METRICS_LIMITS): Server => {
  const options = {
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    // How often Node checks those two; its 30 s default would let a stalled client stay that long.
    connectionsCheckingInterval: Math.min(1000, limits.headersTimeoutMs),
  };
  const server = createServer(options, (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const reply = (status: number, type: string, body: string): void => {
      res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return reply(405, 'text/plain', 'only GET\n');
    if (path === '/health') return reply(200, 'application/json', '{"ok":true}');
    if (path !== '/metrics') return reply(404, 'text/plain', 'only /metrics and /health here\n');
    metrics.render().then(
      ({ contentType, body }) => reply(200, contentType, body),
      (error: Error) => reply(500, 'text/plain', `${error.message}\n`),
    );
  });
  server.maxConnections = limits.maxConnections;
  return server;
};
