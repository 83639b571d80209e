using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using UnifiedLlm.Bench;
using UnifiedLlm.Ctl;

// usage: GatewayBench --ullmd PATH/ullmd --relay PATH/bare-relay --llama-server PATH --model tiny.gguf [--out RESULTS.md]
//        [--seconds N] [--nginx PATH | --nginx-missing REASON] [--npx PATH] [--wrk PATH] [--sections llama,stub,stream,streams]
//        [--paths NAME,...] [--variant LABEL:VAR=VALUE;server.KEY=VALUE;...] [--variant-ullmd PATH] [--concurrency 1,16,64,256] [--rounds N (default 3)]
//        [--slow-streams N (default 1000)]
// ullmd and bare-relay are native executables (Native AOT publishes, as ullmd ships; bench/run.sh builds both).
// Without --out the report is printed only; --sections, --paths and --concurrency measure a subset while iterating.
var options = args.Chunk(2).Where(p => p.Length == 2).ToDictionary(p => p[0], p => p[1]);
string Option(string name) => options.TryGetValue(name, out var v) ? v : throw new ArgumentException($"missing {name}");
string? Optional(string name) => options.TryGetValue(name, out var v) && v.Length > 0 ? v : null;
string[] List(string name, string all) => (Optional(name) ?? all).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
var seconds = double.Parse(Optional("--seconds") ?? "5", CultureInfo.InvariantCulture);
var rounds = int.Parse(Optional("--rounds") ?? "3", CultureInfo.InvariantCulture);
var sections = List("--sections", "llama,stub,stream,streams");
// A second ullmd, with settings of its own, measured beside the first: "LABEL:SETTING;…", each SETTING an environment
// variable (VAR=VALUE) or a line of its config's [server] table (server.KEY=TOML VALUE); the same build unless
// --variant-ullmd names another (a build before a change, to measure the change side by side).
var variantUllmd = Optional("--variant-ullmd");
var variant = (Optional("--variant") ?? "pool I/O:server.io_scheduling=\"pool\"").Split(':', 2);
var variantSettings = variant[1].Split(';', StringSplitOptions.RemoveEmptyEntries).Select(v => v.Split('=', 2)).Select(v => (Name: v[0], Value: v[1])).ToArray();
var variantEnv = variantSettings.Where(v => !v.Name.StartsWith("server.", StringComparison.Ordinal)).ToArray();
var variantServer = string.Join('\n', variantSettings.Where(v => v.Name.StartsWith("server.", StringComparison.Ordinal)).Select(v => $"{v.Name["server.".Length..]} = {v.Value}"));
string variantTcp = $"ullmd TCP ({variant[0]})", variantUnix = $"ullmd unix ({variant[0]})";
var wantedPaths = List("--paths", string.Join(',', [.. PathNames.All, variantTcp, variantUnix]));
const double WarmUpSeconds = 8;
var concurrencies = List("--concurrency", "1,16,64,256").Select(c => int.Parse(c, CultureInfo.InvariantCulture)).ToArray();
var work = Directory.CreateTempSubdirectory("ullm-bench-");
var peers = new List<PeerProcess>();
try
{
    int llamaPort = FreePort(), stubPort = FreePort(), ullmdPort = FreePort(), nginxPort = FreePort(), nginxLoggedPort = FreePort(), portkeyPort = FreePort(), relayPort = FreePort(), ullmdVariantPort = FreePort();
    int sseStubPort = FreePort(), nginxStreamPort = FreePort(), relayStreamPort = FreePort(), yarpPort = FreePort(), yarpStreamPort = FreePort();
    // Whole answers come from nginx's own static answer, the fastest upstream at hand; streams from the in-process stub.
    var nginxPath = Optional("--nginx");
    if (nginxPath is null)
    {
        throw new ArgumentException($"the stub upstream is nginx, and there is none: {Optional("--nginx-missing") ?? "no --nginx given"}");
    }

    await using var sseStub = await StubUpstream.StartAsync(sseStubPort);
    var nginxStub = NginxProxy.StartStub(nginxPath, work, stubPort, StubUpstream.CompletionJson);
    peers.Add(nginxStub);
    if (sections.Contains("llama"))
    {
        peers.Add(PeerProcess.Start(Option("--llama-server"), ["-m", Option("--model"), "--host", "127.0.0.1", "--port", llamaPort.ToString(CultureInfo.InvariantCulture), "-c", "512", "-np", "1"]));
    }

    // ullmd, and the variant: the same build, measured side by side to decide a runtime setting by measurement.
    async Task<(PeerProcess Process, string Socket)> StartUllmdAsync(string name, int port, string executable, string serverSettings = "", params (string Name, string Value)[] env)
    {
        var dir = Directory.CreateDirectory(Path.Combine(work.FullName, name)).FullName;
        var socket = Path.Combine(dir, "openai.sock");
        var config = Path.Combine(dir, "ullm.toml");
        await File.WriteAllTextAsync(config, $"""
        [server]
        data_dir = "{dir}"
        openai_socket = "{socket}"
        admin_socket = "{Path.Combine(dir, "admin.sock")}"
        tcp_listen = "127.0.0.1:{port}"
        log_level = "warning"
        {serverSettings}

        [providers.llama]
        kind = "openai"
        base_url = "http://127.0.0.1:{llamaPort}/v1"
        models = ["tiny"]

        [providers.stub]
        kind = "openai"
        base_url = "http://127.0.0.1:{stubPort}/v1"
        models = ["stub"]

        [providers.sse]
        kind = "openai"
        base_url = "http://127.0.0.1:{sseStubPort}/v1"
        models = ["stub", "{StubUpstream.SlowModel}"]

        # The same stub behind the response cache: every request after the first is a hit. The bench's requests set no
        # temperature, so the cache is told to take sampled requests too.
        [routes.stub-cached]
        targets = ["stub/stub"]

        [routes.stub-cached.cache]
        cache_sampled = true

        [security]
        require_key_on_tcp = false
        anonymous_providers = true
        default_requests_per_minute = 0
        """);
        var process = PeerProcess.Start(executable, ["--config", config], environment: env);
        peers.Add(process);
        return (process, socket);
    }

    var (ullmd, socket) = await StartUllmdAsync("ullmd", ullmdPort, Option("--ullmd"));
    var (ullmdVariant, variantSocket) = await StartUllmdAsync("ullmd-variant", ullmdVariantPort, variantUllmd ?? Option("--ullmd"), variantServer, variantEnv);

    using var direct = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{llamaPort}/"), Timeout = TimeSpan.FromMinutes(2) };
    using var stubDirect = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{stubPort}/"), Timeout = TimeSpan.FromMinutes(2) };
    using var tcp = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{ullmdPort}/"), Timeout = TimeSpan.FromMinutes(2) };
    using var nginxClient = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{nginxPort}/"), Timeout = TimeSpan.FromMinutes(2) };
    using var nginxLoggedClient = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{nginxLoggedPort}/"), Timeout = TimeSpan.FromMinutes(2) };
    using var portkeyClient = PortkeyGateway.Client(portkeyPort, stubPort);
    using var relayClient = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{relayPort}/"), Timeout = TimeSpan.FromMinutes(2) };
    using var sseDirect = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{sseStubPort}/"), Timeout = TimeSpan.FromMinutes(2) };
    using var nginxStreamClient = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{nginxStreamPort}/"), Timeout = TimeSpan.FromMinutes(2) };
    using var relayStreamClient = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{relayStreamPort}/"), Timeout = TimeSpan.FromMinutes(2) };
    using var yarpClient = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{yarpPort}/"), Timeout = TimeSpan.FromMinutes(2) };
    using var yarpStreamClient = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{yarpStreamPort}/"), Timeout = TimeSpan.FromMinutes(2) };
    using var unix = UnixClient(socket);
    using var tcpVariant = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{ullmdVariantPort}/"), Timeout = TimeSpan.FromMinutes(2) };
    using var unixVariant = UnixClient(variantSocket);
    await WaitReadyAsync(tcp, "/ready");
    await WaitReadyAsync(tcpVariant, "/ready");

    static string Chat(string model, int maxTokens, bool stream) =>
        $$"""{"model":"{{model}}","messages":[{"role":"user","content":"hello"}],"max_tokens":{{maxTokens}},"ignore_eos":true,"stream":{{(stream ? "true" : "false")}}}""";

    // Each peer is either ready (null) or the reason it is not measured, recorded in the report.
    var missing = new Dictionary<string, string>(StringComparer.Ordinal);
    var peerOf = new Dictionary<string, PeerProcess>(StringComparer.Ordinal);
    var nginxVersion = await VersionAsync(nginxPath, "-v");
    if (await WaitAnsweringAsync(stubDirect, Chat("stub", 1, false), nginxStub, TimeSpan.FromSeconds(30)) is { } stubWhy)
    {
        throw new InvalidOperationException($"the nginx stub upstream does not answer: {stubWhy}");
    }

    var streamSections = sections.Contains("stream") || sections.Contains("streams");
    foreach (var (name, dir, port, client, upstream, accessLog) in new[]
    {
        (PathNames.Nginx, "nginx", nginxPort, nginxClient, stubPort, false), (PathNames.NginxLogged, "nginx-logged", nginxLoggedPort, nginxLoggedClient, stubPort, true),
        (PathNames.Nginx + PathNames.StreamSuffix, "nginx-stream", nginxStreamPort, nginxStreamClient, sseStubPort, false),
    })
    {
        if (!wantedPaths.Contains(name.Replace(PathNames.StreamSuffix, "", StringComparison.Ordinal)) || (name.EndsWith(PathNames.StreamSuffix, StringComparison.Ordinal) && !streamSections))
        {
            continue;
        }

        var peer = peerOf[name] = NginxProxy.Start(nginxPath, work, dir, port, upstream, accessLog);
        peers.Add(peer);
        if (await WaitAnsweringAsync(client, Chat("stub", 1, false), peer, TimeSpan.FromSeconds(30)) is { } why)
        {
            missing[name] = why;
        }
    }

    var portkeyVersion = "";
    if (wantedPaths.Contains(PathNames.Portkey))
    {
        var npx = Optional("--npx") ?? "npx";
        try
        {
            var peer = peerOf[PathNames.Portkey] = PortkeyGateway.Start(npx, portkeyPort);
            peers.Add(peer);
            if (await WaitAnsweringAsync(portkeyClient, Chat("stub", 1, false), peer, TimeSpan.FromMinutes(5)) is { } why)
            {
                missing[PathNames.Portkey] = why;
            }
            else
            {
                portkeyVersion = await VersionAsync("npm", "view", PortkeyGateway.Package, "version");
            }
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            missing[PathNames.Portkey] = $"cannot run '{npx}': {e.Message}";
        }
    }

    foreach (var (path, kind, name, port, client, upstream) in new[]
    {
        (PathNames.BareRelay, "httpclient", PathNames.BareRelay, relayPort, relayClient, stubPort),
        (PathNames.BareRelay, "httpclient", PathNames.BareRelay + PathNames.StreamSuffix, relayStreamPort, relayStreamClient, sseStubPort),
        (PathNames.YarpRelay, "yarp", PathNames.YarpRelay, yarpPort, yarpClient, stubPort),
        (PathNames.YarpRelay, "yarp", PathNames.YarpRelay + PathNames.StreamSuffix, yarpStreamPort, yarpStreamClient, sseStubPort),
    })
    {
        if (!wantedPaths.Contains(path) || (name.EndsWith(PathNames.StreamSuffix, StringComparison.Ordinal) && !streamSections))
        {
            continue;
        }

        var relay = peerOf[name] = PeerProcess.Start(Option("--relay"), [kind, port.ToString(CultureInfo.InvariantCulture), $"http://127.0.0.1:{upstream}/v1/"]);
        peers.Add(relay);
        if (await WaitAnsweringAsync(client, Chat("stub", 1, false), relay, TimeSpan.FromSeconds(60)) is { } why)
        {
            missing[name] = why;
        }
    }

    peerOf[PathNames.UllmdTcp] = peerOf[PathNames.UllmdUnix] = peerOf[PathNames.UllmdCacheHit] = ullmd;
    peerOf[variantTcp] = peerOf[variantUnix] = ullmdVariant;
    foreach (var (name, why) in missing)
    {
        Console.Error.WriteLine($"{name} is not measured: {why}");
    }

    var stubPaths = new (string Name, HttpClient Client, string Model)[]
    {
        (PathNames.Direct, stubDirect, "stub"), (PathNames.Nginx, nginxClient, "stub"), (PathNames.NginxLogged, nginxLoggedClient, "stub"), (PathNames.UllmdTcp, tcp, "stub/stub"),
        (PathNames.UllmdUnix, unix, "stub/stub"), (PathNames.UllmdCacheHit, tcp, "stub-cached"), (PathNames.Portkey, portkeyClient, "stub"), (PathNames.BareRelay, relayClient, "stub"),
        (PathNames.YarpRelay, yarpClient, "stub"), (variantTcp, tcpVariant, "stub/stub"), (variantUnix, unixVariant, "stub/stub"),
    }.Where(p => wantedPaths.Contains(p.Name) && !missing.ContainsKey(p.Name)).ToArray();
    var streamPaths = new (string Name, HttpClient Client, string Model)[]
    {
        (PathNames.Direct, sseDirect, "stub"), (PathNames.Nginx, nginxStreamClient, "stub"), (PathNames.UllmdTcp, tcp, "sse/stub"), (PathNames.UllmdUnix, unix, "sse/stub"),
        (PathNames.BareRelay, relayStreamClient, "stub"), (PathNames.YarpRelay, yarpStreamClient, "stub"),
    }.Where(p => wantedPaths.Contains(p.Name) && !missing.ContainsKey(p.Name + PathNames.StreamSuffix)).ToArray();

    var report = new StringBuilder();
    report.AppendLine("## Gateway: ullmd vs direct, nginx and the Portkey gateway");
    report.AppendLine();
    // A subset (--paths, --sections, --rounds) is named, so that a reader knows what the run left out.
    var subset = string.Concat(((string[])["--sections", "--paths", "--variant", "--variant-ullmd", "--concurrency", "--rounds"]).Where(options.ContainsKey).Select(o => $" {o} \"{options[o]}\""));
    report.AppendLine(CultureInfo.InvariantCulture, $"- Date: {DateTimeOffset.UtcNow:yyyy-MM-dd HH:mm} UTC; command: `bash bench/run.sh {seconds.ToString(CultureInfo.InvariantCulture)}`{(subset.Length > 0 ? $" (GatewayBench run directly with{subset})" : "")}");
    report.AppendLine(CultureInfo.InvariantCulture, $"- Machine: {Machine()}");
    report.AppendLine("- Everything runs on these cores at once (with whatever else the machine runs; see the load above): the bench's client (.NET, one");
    report.AppendLine("  process, the same for every path), the stub upstream, the proxy under test and, for the llama table, llama-server. A");
    report.AppendLine("  proxy's own CPU time is taken from the client and the upstream, so a proxy cannot reach the direct figures here, and");
    report.AppendLine("  ratios taken side by side in one run mean more than absolute figures. Each round measures every path in turn, the");
    report.AppendLine("  order rotating from round to round (so neighbouring paths alternate); the median round of each path is reported, with");
    report.AppendLine("  the spread of its rounds beside it.");
    report.AppendLine(CultureInfo.InvariantCulture, $"- Upstreams: a real llama-server (CPU, the tiny test model); for whole answers the **nginx stub**, nginx's own static answer (`return 200` with a fixed chat completion, one worker, no access log: {nginxVersion}); for streams an in-process .NET stub that sends its chunks back to back, or one a second for the open-streams measure.");
    report.AppendLine("- ullmd reaches them as `kind = \"openai\"` providers, over TCP and its unix socket (no API key, no rate limit; audit and metrics on).");
    report.AppendLine(CultureInfo.InvariantCulture, $"- Workers: nginx as a proxy runs {NginxProxy.Workers} worker processes; ullmd and the bare relay run on .NET's thread pool, which starts {NginxProxy.Workers} threads on this machine's {Environment.ProcessorCount} cores.");
    report.AppendLine(CultureInfo.InvariantCulture, $"- {PathNames.UllmdCacheHit}: ullmd over TCP, asked for a route to the same stub with the response cache on (`[routes.stub-cached.cache] cache_sampled = true`): after the warm-up every request is a hit, answered without the upstream.");
    report.AppendLine(CultureInfo.InvariantCulture, $"- nginx: a plain reverse proxy to the stub: `proxy_pass` to an upstream with `keepalive`, `proxy_http_version 1.1`, `proxy_buffering off`, `worker_processes {NginxProxy.Workers}`, `keepalive_requests` unbounded on both sides (as Kestrel and .NET's client are), no access log.");
    report.AppendLine(CultureInfo.InvariantCulture, $"- {PathNames.NginxLogged}: the same with nginx's default access log (`access_log PATH;`: the combined format, a line written per request as it ends); ullmd's audit log, a row per request, is the closer counterpart. The targets are judged against plain nginx; the logged one is given beside it.");
    report.AppendLine(!wantedPaths.Contains(PathNames.Portkey) ? "- Portkey: not in this run (left out by --paths)." : string.Create(CultureInfo.InvariantCulture, $"- Portkey{(portkeyVersion.Length > 0 ? $" {PortkeyGateway.Package} {portkeyVersion}" : "")}: `npx -y {PortkeyGateway.Package} --port=PORT --headless`, headers `x-portkey-provider: openai`, `x-portkey-custom-host: <stub>/v1`."));
    report.AppendLine("- ullmd: the Native AOT publish (`dotnet publish daemon/Ullmd.csproj -c Release`), the build that ships.");
    var variantBuild = variantUllmd is null ? "of the same build" : $"built apart (`{variantUllmd}`)";
    var variantText = variantSettings.Length == 0 ? "no settings of its own" : string.Join(", ", variantSettings.Select(e => $"`{e.Name}={e.Value}`"));
    report.AppendLine(CultureInfo.InvariantCulture, $"- {variantTcp} / {variantUnix}: a second ullmd {variantBuild} with the same config but for {variantText}.");
    report.AppendLine(CultureInfo.InvariantCulture, $"- {PathNames.BareRelay}: the least a .NET proxy does (Kestrel in, HttpClient out, bytes relayed; no parsing, routing, audit or metrics), in a process of its own, published with Native AOT as ullmd is (bench/BareRelay): what the framework costs, against which ullmd's own work shows.");
    report.AppendLine(CultureInfo.InvariantCulture, $"- {PathNames.YarpRelay}: the same process with YARP's `IHttpForwarder` (Yarp.ReverseProxy 2.3.0, `HttpTransformer.Empty`, its own `HttpMessageInvoker`) in place of the hand-written relay: the alternative to ullmd's relay, measured before choosing.");
    report.AppendLine("- proxy CPU µs/req: user+system CPU time of the proxy's processes (nginx's workers, Portkey's node) during the step, per request; less disturbed by other load than requests/s.");
    foreach (var (name, why) in missing)
    {
        report.AppendLine(CultureInfo.InvariantCulture, $"- **{name} not measured**: {why}");
    }

    report.AppendLine();
    if (sections.Contains("llama"))
    {
        await WaitReadyAsync(direct, "/health");
        report.AppendLine("## llama-server (tiny model): small chat, TTFT and streaming");
        report.AppendLine();
        report.AppendLine("| path | chat p50 ms | chat p99 ms | stream TTFT p50 ms | stream total p50 ms | chunks/s | ratio chat p50 vs direct |");
        report.AppendLine("|---|---|---|---|---|---|---|");
        var llamaPaths = new (string Name, HttpClient Client, string Model)[] { (PathNames.Direct, direct, "tiny"), (PathNames.UllmdTcp, tcp, "llama/tiny"), (PathNames.UllmdUnix, unix, "llama/tiny") };
        double? baseline = null;
        foreach (var (name, client, model) in llamaPaths)
        {
            var chat = await Measurements.SequentialAsync(client, Chat(model, 4, false), 50);
            var stream = await Measurements.StreamingAsync(client, Chat(model, 64, true), 20);
            baseline ??= chat.P50Ms;
            report.AppendLine(CultureInfo.InvariantCulture, $"| {name} | {chat.P50Ms:0.00} | {chat.P99Ms:0.00} | {stream.TtftP50Ms:0.00} | {stream.TotalP50Ms:0.00} | {stream.ChunksPerSecond:0} | {chat.P50Ms / baseline:0.00}x |");
            Console.Error.WriteLine($"llama {name}: chat p50 {chat.P50Ms:0.00} ms, ttft {stream.TtftP50Ms:0.00} ms");
        }

        report.AppendLine();
        report.AppendLine("chunks/s: content chunks after the first over the time from the first to the end, summed over 20 streams of 64 tokens.");
        report.AppendLine();
    }

    var throughput = new Dictionary<(string Path, int Concurrency), Measurements.Throughput>();
    var spread = new Dictionary<(string Path, int Concurrency), (double Low, double High)>();
    var cpuPerRequest = new Dictionary<(string Path, int Concurrency), double>();
    if (sections.Contains("stub") || sections.Contains("stream"))
    {
        // .NET compiles the hot path again, optimised, in the background for several seconds after start; on a busy
        // machine longer. Measuring before that would measure the JIT.
        foreach (var (_, client, model) in stubPaths)
        {
            await Measurements.ConcurrentAsync(client, Chat(model, 1, false), 16, TimeSpan.FromSeconds(WarmUpSeconds));
        }

        foreach (var (name, client, model) in streamPaths)
        {
            try
            {
                await Measurements.StreamingAsync(client, Chat(model, 1, true), 50);
            }
            catch (HttpRequestException e)
            {
                Console.Error.WriteLine($"{name}: streaming fails in the warm-up ({e.Message}); the streaming table says why");
            }
        }
    }

    if (sections.Contains("stub"))
    {
        report.AppendLine(CultureInfo.InvariantCulture, $"## Stub upstream: requests/s and latency at concurrency ({seconds:0.#} s each, after a warm-up; median of {rounds} rounds)");
        report.AppendLine();
        report.AppendLine("Each row is the round with the median requests/s of its path; \"rounds\" gives the lowest and highest requests/s of");
        report.AppendLine("its rounds as a share of that median: the noise the machine's other load puts on every figure of the row. Proxy CPU");
        report.AppendLine("is the median over the rounds.");
        report.AppendLine();
        var stubAlone = new List<string>();
        foreach (var concurrency in concurrencies)
        {
            var (alone, why) = await WrkProbe.MeasureAsync(Optional("--wrk") ?? "wrk", new Uri($"http://127.0.0.1:{stubPort}/v1/chat/completions"), Chat("stub", 1, false), concurrency, seconds, work);
            stubAlone.Add(alone is { } r ? $"c={concurrency}: {r:0} req/s" : $"c={concurrency}: not measured ({why})");
        }

        report.AppendLine(CultureInfo.InvariantCulture, $"The stub upstream alone (nginx's `return 200`), measured with wrk (one thread, {seconds:0.#} s) rather than the bench's .NET client: {string.Join(", ", stubAlone)}. The \"direct\" rows below are the same stub through the bench's client, which is the limit there.");
        report.AppendLine();
        report.AppendLine("| path | concurrency | req/s | rounds | p50 ms | p99 ms | req/s vs direct | req/s vs nginx | added p50 ms | added p99 ms | proxy CPU µs/req |");
        report.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|");
        foreach (var concurrency in concurrencies)
        {
            var measured = stubPaths.ToDictionary(p => p.Name, _ => new List<Measurements.Throughput>(), StringComparer.Ordinal);
            var cpu = stubPaths.ToDictionary(p => p.Name, _ => new List<double>(), StringComparer.Ordinal);
            for (var round = 0; round < rounds; round++)
            {
                // The order rotates: a path measured first in one round is measured later in the next.
                foreach (var (name, client, model) in stubPaths.Skip(round % stubPaths.Length).Concat(stubPaths.Take(round % stubPaths.Length)))
                {
                    var proxy = peerOf.GetValueOrDefault(name);
                    var cpuBefore = proxy is null ? TimeSpan.Zero : ProcessCpu.OfTree(proxy.Id);
                    var result = await Measurements.ConcurrentAsync(client, Chat(model, 1, false), concurrency, TimeSpan.FromSeconds(seconds));
                    if (proxy is not null)
                    {
                        cpu[name].Add((ProcessCpu.OfTree(proxy.Id) - cpuBefore).TotalMicroseconds / (result.RequestsPerSecond * seconds));
                    }

                    measured[name].Add(result);
                    Console.Error.WriteLine($"stub {name} c={concurrency} round {round + 1}: {result.RequestsPerSecond:0} req/s, p99 {result.Latency.P99Ms:0.000} ms, proxy CPU {(proxy is null ? "" : cpu[name][^1].ToString("0", CultureInfo.InvariantCulture))} µs/req");
                }
            }

            foreach (var (name, results) in measured)
            {
                var ordered = results.OrderBy(r => r.RequestsPerSecond).ToList();
                throughput[(name, concurrency)] = ordered[ordered.Count / 2];
                spread[(name, concurrency)] = (ordered[0].RequestsPerSecond / ordered[ordered.Count / 2].RequestsPerSecond, ordered[^1].RequestsPerSecond / ordered[ordered.Count / 2].RequestsPerSecond);
                if (cpu[name].Count > 0)
                {
                    cpuPerRequest[(name, concurrency)] = cpu[name].Order().ElementAt(cpu[name].Count / 2);
                }
            }

            foreach (var (name, _, _) in stubPaths)
            {
                var result = throughput[(name, concurrency)];
                var (low, high) = spread[(name, concurrency)];
                var d = throughput.GetValueOrDefault((PathNames.Direct, concurrency));
                var n = throughput.GetValueOrDefault((PathNames.Nginx, concurrency));
                var cpuText = cpuPerRequest.TryGetValue((name, concurrency), out var c) ? c.ToString("0", CultureInfo.InvariantCulture) : "";
                report.AppendLine(CultureInfo.InvariantCulture, $"| {name} | {concurrency} | {result.RequestsPerSecond:0}{(result.Errors > 0 ? $" ({result.Errors} failed)" : "")} | {low:0.00}–{high:0.00} | {result.Latency.P50Ms:0.000} | {result.Latency.P99Ms:0.000} | {Ratio(result, d)} | {Ratio(result, n)} | {Added(result, d, l => l.P50Ms)} | {Added(result, d, l => l.P99Ms)} | {cpuText} |");
            }
        }

        report.AppendLine();
    }

    var perChunk = new Dictionary<string, double>(StringComparer.Ordinal);
    if (sections.Contains("stream"))
    {
        report.AppendLine(CultureInfo.InvariantCulture, $"## Stub upstream: streaming relay ({StubUpstream.StreamChunks} chunks, sent back to back, one stream at a time)");
        report.AppendLine();
        report.AppendLine("| path | TTFB of first chunk p50 ms | whole stream p50 ms | first to last chunk p50 ms | added delay per chunk ms |");
        report.AppendLine("|---|---|---|---|---|");
        Measurements.Stream? stubDirectStream = null;
        foreach (var (name, client, model) in streamPaths)
        {
            Measurements.Stream stream;
            try
            {
                stream = await Measurements.StreamingAsync(client, Chat(model, 1, true), 300);
            }
            catch (HttpRequestException e)
            {
                var why = $"{e.Message} {await AnswerAsync(client, Chat(model, 1, true))}; its output: `{Tail(ErrorLines(peerOf.GetValueOrDefault(name + PathNames.StreamSuffix)?.OutputTail ?? ""))}`";
                report.AppendLine(CultureInfo.InvariantCulture, $"| {name} | not measured: {why.Replace('|', '/')} | | | |");
                Console.Error.WriteLine($"stream {name} not measured: {why}");
                continue;
            }

            stubDirectStream ??= stream;
            perChunk[name] = (stream.AfterFirstP50Ms - stubDirectStream.AfterFirstP50Ms) / (StubUpstream.StreamChunks - 1);
            report.AppendLine(CultureInfo.InvariantCulture, $"| {name} | {stream.TtftP50Ms:0.000} | {stream.TotalP50Ms:0.000} | {stream.AfterFirstP50Ms:0.000} | {perChunk[name]:0.0000} |");
        }

        report.AppendLine();
        report.AppendLine("The added delay per chunk is (first-to-last time through the path − direct's) / 31 gaps: what relaying adds to each chunk");
        report.AppendLine("once the stream runs; the time to the first chunk (the request's own overhead) is in the TTFB column.");
        report.AppendLine();
    }

    var openStreams = sections.Contains("streams") ? await OpenStreams.MeasureAsync(tcp, ullmd.Id, int.Parse(Optional("--slow-streams") ?? "1000", CultureInfo.InvariantCulture)) : null;
    if (openStreams is not null)
    {
        report.Append(openStreams.Report());
    }

    report.Append(Targets.Verdicts(throughput, spread, cpuPerRequest, perChunk, openStreams, concurrencies));
    if (Optional("--out") is { } output)
    {
        ResultsFile.ReplaceSection(output, "gateway", report.ToString());
    }

    Console.WriteLine(report);
    return 0;
}
finally
{
    foreach (var peer in peers)
    {
        await peer.DisposeAsync();
    }

    work.Delete(recursive: true);
}

static string Ratio(Measurements.Throughput result, Measurements.Throughput? baseline) =>
    baseline is null ? "" : (result.RequestsPerSecond / baseline.RequestsPerSecond).ToString("0.00", CultureInfo.InvariantCulture);

static string Added(Measurements.Throughput result, Measurements.Throughput? direct, Func<Measurements.Latency, double> percentile) =>
    direct is null ? "" : (percentile(result.Latency) - percentile(direct.Latency)).ToString("0.000", CultureInfo.InvariantCulture);

static async Task WaitReadyAsync(HttpClient client, string path)
{
    var deadline = DateTime.UtcNow.AddMinutes(2);
    while (true)
    {
        try
        {
            using var response = await client.GetAsync(new Uri(path, UriKind.Relative));
            if (response.IsSuccessStatusCode)
            {
                return;
            }
        }
        catch (HttpRequestException) when (DateTime.UtcNow < deadline)
        {
        }

        if (DateTime.UtcNow > deadline)
        {
            throw new TimeoutException($"{client.BaseAddress}{path} not ready after 2 minutes");
        }

        await Task.Delay(200);
    }
}

// Null once a chat request through the peer succeeds; else why not (it exited, or kept failing), with its last output.
static async Task<string?> WaitAnsweringAsync(HttpClient client, string body, PeerProcess peer, TimeSpan timeout)
{
    var deadline = DateTime.UtcNow + timeout;
    var last = "no answer";
    while (DateTime.UtcNow < deadline)
    {
        if (peer.HasExited)
        {
            await Task.Delay(200);
            return $"it exited at start; its output: `{Tail(peer.OutputTail)}`";
        }

        try
        {
            using var content = new StringContent(body, Encoding.UTF8, "application/json");
            using var response = await client.PostAsync(new Uri("/v1/chat/completions", UriKind.Relative), content);
            var text = await response.Content.ReadAsStringAsync();
            if (response.IsSuccessStatusCode)
            {
                return null;
            }

            last = $"HTTP {(int)response.StatusCode}: {text}";
        }
        catch (HttpRequestException e)
        {
            last = e.Message;
        }

        await Task.Delay(500);
    }

    return $"no successful answer within {timeout.TotalSeconds:0} s (last: {Tail(last)}); its output: `{Tail(peer.OutputTail)}`";
}

static async Task<string> AnswerAsync(HttpClient client, string body)
{
    using var content = new StringContent(body, Encoding.UTF8, "application/json");
    using var response = await client.PostAsync(new Uri("/v1/chat/completions", UriKind.Relative), content);
    return Tail($"(HTTP {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()})");
}

// A peer's errors, without its progress lines; all of its output if it printed no error.
static string ErrorLines(string output)
{
    var errors = output.Split('\n').Where(l => l.Contains("error", StringComparison.OrdinalIgnoreCase)).Distinct().ToList();
    return errors.Count > 0 ? string.Join('\n', errors) : output;
}

static string Tail(string text)
{
    var oneLine = text.ReplaceLineEndings(" / ").Replace('`', '\'').Trim();
    return oneLine.Length <= 600 ? oneLine : "…" + oneLine[^600..];
}

static async Task<string> VersionAsync(string file, params string[] arguments)
{
    try
    {
        await using var process = PeerProcess.Start(file, arguments);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (!process.HasExited && !timeout.IsCancellationRequested)
        {
            await Task.Delay(50, CancellationToken.None);
        }

        await Task.Delay(100, CancellationToken.None);
        // npm prints its own warnings before the answer.
        return Tail(process.OutputTail.Split('\n', StringSplitOptions.RemoveEmptyEntries).LastOrDefault() ?? "");
    }
    catch (System.ComponentModel.Win32Exception)
    {
        return "";
    }
}

static int FreePort()
{
    using var listener = new TcpListener(IPAddress.Loopback, 0);
    listener.Start();
    return ((IPEndPoint)listener.LocalEndpoint).Port;
}

static HttpClient UnixClient(string socket) => new(UnixSocketHttp.Handler(socket))
{
    BaseAddress = new Uri("http://ullmd/"),
    Timeout = TimeSpan.FromMinutes(2),
};

static string Machine()
{
    var cpu = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "unknown CPU";
    var load = File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Split(' ')[0] : "?";
    return $"{cpu}, {Environment.ProcessorCount} cores (shared with other work; 1-minute load {load} at the start), {Environment.OSVersion}, .NET {Environment.Version}";
}
