using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using UnifiedLlm.Bench;

// usage: GatewayBench --ullmd ullmd.dll --llama-server PATH --model tiny.gguf --out RESULTS.md [--seconds N]
var options = args.Chunk(2).Where(p => p.Length == 2).ToDictionary(p => p[0], p => p[1]);
string Option(string name) => options.TryGetValue(name, out var v) ? v : throw new ArgumentException($"missing {name}");
var seconds = options.TryGetValue("--seconds", out var s) ? double.Parse(s, CultureInfo.InvariantCulture) : 5;
var work = Directory.CreateTempSubdirectory("ullm-bench-");
var processes = new List<Process>();
try
{
    int llamaPort = FreePort(), stubPort = FreePort(), ullmdPort = FreePort();
    var llama = Start(Option("--llama-server"), ["-m", Option("--model"), "--host", "127.0.0.1", "--port", llamaPort.ToString(CultureInfo.InvariantCulture), "-c", "512", "-np", "1"], processes);
    await using var stub = await StubUpstream.StartAsync(stubPort);
    var socket = Path.Combine(work.FullName, "openai.sock");
    var config = Path.Combine(work.FullName, "ullm.toml");
    await File.WriteAllTextAsync(config, $"""
        [server]
        data_dir = "{work.FullName}"
        openai_socket = "{socket}"
        admin_socket = "{Path.Combine(work.FullName, "admin.sock")}"
        tcp_listen = "127.0.0.1:{ullmdPort}"
        log_level = "warning"

        [providers.llama]
        kind = "openai"
        base_url = "http://127.0.0.1:{llamaPort}/v1"
        models = ["tiny"]

        [providers.stub]
        kind = "openai"
        base_url = "http://127.0.0.1:{stubPort}/v1"
        models = ["stub"]

        [security]
        require_key_on_tcp = false
        default_requests_per_minute = 0
        """);
    Start("dotnet", [Option("--ullmd"), "--config", config], processes);

    using var direct = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{llamaPort}/"), Timeout = TimeSpan.FromMinutes(2) };
    using var stubDirect = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{stubPort}/"), Timeout = TimeSpan.FromMinutes(2) };
    using var tcp = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{ullmdPort}/"), Timeout = TimeSpan.FromMinutes(2) };
    using var unix = UnixClient(socket);
    await WaitReadyAsync(direct, "/health");
    await WaitReadyAsync(tcp, "/ready");

    string Chat(string model, int maxTokens, bool stream) =>
        $$"""{"model":"{{model}}","messages":[{"role":"user","content":"hello"}],"max_tokens":{{maxTokens}},"ignore_eos":true,"stream":{{(stream ? "true" : "false")}}}""";

    var report = new StringBuilder();
    report.AppendLine("## Gateway: through ullmd vs direct");
    report.AppendLine();
    report.AppendLine(CultureInfo.InvariantCulture, $"- Date: {DateTimeOffset.UtcNow:yyyy-MM-dd HH:mm} UTC");
    report.AppendLine(CultureInfo.InvariantCulture, $"- Machine: {Machine()}");
    report.AppendLine("- Upstreams: a real llama-server (CPU, the tiny test model) and an in-process stub OpenAI server that answers at once.");
    report.AppendLine("- ullmd reaches both as `kind = \"openai\"` providers (the model scheduler is not in this build yet, issue #5), over TCP and its unix socket.");
    report.AppendLine();

    report.AppendLine("## llama-server (tiny model): small chat, TTFT and streaming");
    report.AppendLine();
    report.AppendLine("| path | chat p50 ms | chat p99 ms | stream TTFT p50 ms | stream total p50 ms | chunks/s | ratio chat p50 vs direct |");
    report.AppendLine("|---|---|---|---|---|---|---|");
    var llamaPaths = new (string Name, HttpClient Client, string Model)[] { ("direct", direct, "tiny"), ("ullmd TCP", tcp, "llama/tiny"), ("ullmd unix", unix, "llama/tiny") };
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
    report.AppendLine(CultureInfo.InvariantCulture, $"## Stub upstream: requests/s and latency at concurrency ({seconds:0} s each)");
    report.AppendLine();
    report.AppendLine("| path | concurrency | req/s | p50 ms | p99 ms | req/s vs direct | added p50 ms | added p99 ms |");
    report.AppendLine("|---|---|---|---|---|---|---|---|");
    foreach (var concurrency in new[] { 1, 16, 64 })
    {
        (double Rps, Measurements.Latency Latency)? directResult = null;
        foreach (var (name, client, model) in new[] { ("direct", stubDirect, "stub"), ("ullmd TCP", tcp, "stub/stub"), ("ullmd unix", unix, "stub/stub") })
        {
            var result = await Measurements.ConcurrentAsync(client, Chat(model, 1, false), concurrency, TimeSpan.FromSeconds(seconds));
            directResult ??= result;
            var d = directResult.Value;
            report.AppendLine(CultureInfo.InvariantCulture, $"| {name} | {concurrency} | {result.RequestsPerSecond:0} | {result.Latency.P50Ms:0.000} | {result.Latency.P99Ms:0.000} | {result.RequestsPerSecond / d.Rps:0.00} | {result.Latency.P50Ms - d.Latency.P50Ms:0.000} | {result.Latency.P99Ms - d.Latency.P99Ms:0.000} |");
            Console.Error.WriteLine($"stub {name} c={concurrency}: {result.RequestsPerSecond:0} req/s");
        }
    }

    report.AppendLine();
    report.AppendLine(CultureInfo.InvariantCulture, $"## Stub upstream: streaming relay ({StubUpstream.StreamChunks} chunks, sent back to back)");
    report.AppendLine();
    report.AppendLine("| path | TTFB of first chunk p50 ms | whole stream p50 ms | per-chunk relay ms (whole − direct) / chunks |");
    report.AppendLine("|---|---|---|---|");
    Measurements.Stream? stubDirectStream = null;
    foreach (var (name, client, model) in new[] { ("direct", stubDirect, "stub"), ("ullmd TCP", tcp, "stub/stub"), ("ullmd unix", unix, "stub/stub") })
    {
        var stream = await Measurements.StreamingAsync(client, Chat(model, 1, true), 200);
        stubDirectStream ??= stream;
        report.AppendLine(CultureInfo.InvariantCulture, $"| {name} | {stream.TtftP50Ms:0.000} | {stream.TotalP50Ms:0.000} | {(stream.TotalP50Ms - stubDirectStream.TotalP50Ms) / StubUpstream.StreamChunks:0.0000} |");
    }

    report.AppendLine();
    report.AppendLine("Not measured here yet: nginx as a reference reverse proxy, the Portkey gateway as a peer, concurrency 256.");
    ResultsFile.ReplaceSection(Option("--out"), "gateway", report.ToString());
    Console.WriteLine(report);
    return 0;
}
finally
{
    foreach (var process in processes)
    {
        if (!process.HasExited)
        {
            process.Kill(entireProcessTree: true);
        }

        await process.WaitForExitAsync();
        process.Dispose();
    }

    work.Delete(recursive: true);
}

static Process Start(string file, string[] arguments, List<Process> processes)
{
    var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
    foreach (var argument in arguments)
    {
        start.ArgumentList.Add(argument);
    }

    var process = Process.Start(start)!;
    process.OutputDataReceived += (_, _) => { };
    process.ErrorDataReceived += (_, _) => { };
    process.BeginOutputReadLine();
    process.BeginErrorReadLine();
    processes.Add(process);
    return process;
}

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

static int FreePort()
{
    using var listener = new TcpListener(IPAddress.Loopback, 0);
    listener.Start();
    return ((IPEndPoint)listener.LocalEndpoint).Port;
}

static HttpClient UnixClient(string socket) => new(new SocketsHttpHandler
{
    ConnectCallback = async (_, ct) =>
    {
        var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await s.ConnectAsync(new UnixDomainSocketEndPoint(socket), ct);
        return new NetworkStream(s, ownsSocket: true);
    },
})
{
    BaseAddress = new Uri("http://ullmd/"),
    Timeout = TimeSpan.FromMinutes(2),
};

static string Machine()
{
    var cpu = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "unknown CPU";
    return $"{cpu}, {Environment.ProcessorCount} cores, {Environment.OSVersion}, .NET {Environment.Version}";
}
