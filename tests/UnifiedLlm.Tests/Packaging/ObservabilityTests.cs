using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using UnifiedLlm.Daemon.Models;
using UnifiedLlm.Tests.Gateway;
using UnifiedLlm.Tests.Gpu;
using UnifiedLlm.Tests.Models;
using UnifiedLlm.Tests.Support;
using TempDirectory = UnifiedLlm.Tests.Support.TempDirectory;

namespace UnifiedLlm.Tests.Packaging;

/// <summary>
/// packaging/observability: the alert rules through promtool, the Grafana dashboard's structure, and every query of every
/// dashboard panel against a real Prometheus scraping a real ullmd (fake NVML GPUs, a real llama-server, a fake cloud
/// provider) while requests flow.
/// </summary>
[Collection(FakeNvmlTests.Name)]
public sealed class ObservabilityTests(FakeNvmlBuild nvml)
{
    private static readonly Dictionary<string, string?> NoChanges = [];

    private static string DashboardPath => Path.Combine(RepositoryScript.Root, "packaging", "observability", "grafana", "unified-llm.json");

    [Fact]
    public async Task Alert_rules_pass_promtool_check_and_a_unit_test_of_every_alert_firing_and_silent()
    {
        var result = await RepositoryScript.RunAsync("tests/observability/check-rules.sh", [], NoChanges, TimeSpan.FromMinutes(2));

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("each tested firing and silent", result.StandardOutput, StringComparison.Ordinal);
    }

    [Fact]
    public void Every_dashboard_panel_has_a_datasource_a_query_and_a_unit()
    {
        using var dashboard = JsonDocument.Parse(File.ReadAllText(DashboardPath));
        var root = dashboard.RootElement;
        var variables = root.GetProperty("templating").GetProperty("list").EnumerateArray().ToDictionary(v => v.GetProperty("name").GetString()!, v => v.GetProperty("type").GetString());
        Assert.Equal("datasource", variables["datasource"]);
        var problems = new List<string>();
        var ids = new HashSet<int>();
        foreach (var panel in root.GetProperty("panels").EnumerateArray())
        {
            var title = panel.TryGetProperty("title", out var t) ? t.GetString() : null;
            if (string.IsNullOrEmpty(title))
            {
                problems.Add("a panel without a title");
                continue;
            }

            if (!ids.Add(panel.GetProperty("id").GetInt32()))
            {
                problems.Add($"{title}: duplicate id");
            }

            if (!IsPrometheusVariable(panel))
            {
                problems.Add($"{title}: datasource is not the Prometheus ${{datasource}} variable");
            }

            if (!panel.TryGetProperty("fieldConfig", out var fields) || !fields.GetProperty("defaults").TryGetProperty("unit", out var unit) || string.IsNullOrWhiteSpace(unit.GetString()))
            {
                problems.Add($"{title}: no unit");
            }

            var targets = panel.TryGetProperty("targets", out var list) ? list.EnumerateArray().ToList() : [];
            if (targets.Count == 0)
            {
                problems.Add($"{title}: no query");
            }

            foreach (var target in targets)
            {
                if (!target.TryGetProperty("expr", out var expr) || string.IsNullOrWhiteSpace(expr.GetString()) || !target.TryGetProperty("refId", out _))
                {
                    problems.Add($"{title}: a target without expr or refId");
                }

                if (!IsPrometheusVariable(target))
                {
                    problems.Add($"{title}: a target whose datasource is not the ${{datasource}} variable");
                }
            }
        }

        Assert.True(problems.Count == 0, string.Join('\n', problems));
        Assert.True(ids.Count >= 10, $"only {ids.Count} panels");
    }

    [Fact(Timeout = 300_000)]
    public async Task Every_dashboard_query_returns_data_from_a_real_prometheus_scraping_ullmd_under_traffic()
    {
        var prometheus = FindOnPath("prometheus");
        if (prometheus is null)
        {
            Assert.Skip("prometheus is not installed (Debian: apt-get install prometheus; tests/run.sh installs it)");
        }

        var llamaServer = LlamaServerBinary.Find();
        if (llamaServer is null)
        {
            Assert.Skip(LlamaServerBinary.HowToGet);
        }

        var ct = TestContext.Current.CancellationToken;
        using var dir = new TempDirectory("ullm-observability");
        using var gpus = new FakeGpuHost(nvml.Current, FakeGpuHost.TwoGpus);
        await using var cloud = await FakeUpstream.StartAsync();
        TinyModel.Write(dir.File("tiny.gguf"));
        var ullmdPort = FreeLoopbackPort();
        var paths = DaemonProcess.WriteConfig(dir, $"""
            [gpu]
            nvml_library = "{gpus.LibraryPath}"
            reserve_mib = 512

            [backends.llamacpp]
            executable = "{llamaServer}"

            [models.tiny]
            backend = "llamacpp"
            source = "{dir.File("tiny.gguf")}"
            context = 256
            gpu_layers = 0

            # Its backend refuses an unknown option, so its loads fail and back off.
            [models.broken]
            backend = "llamacpp"
            source = "{dir.File("tiny.gguf")}"
            context = 256
            gpu_layers = 0
            extra_args = ["--no-such-option"]

            # The traffic below comes without a key on the unix socket; it reaches the provider only with this (#21).
            [security]
            anonymous_providers = true

            [providers.cloud]
            kind = "openai"
            base_url = "{cloud.BaseAddress.AbsoluteUri}v1"
            models = ["gpt-x"]
            cost_per_million_input_tokens = 1000
            cost_per_million_output_tokens = 2000
            """, serverExtra: "supervisor = \"process\"");
        // The TCP listener Prometheus scrapes, in place of the unix-only default WriteConfig writes.
        var config = File.ReadAllText(paths.ConfigFile);
        Assert.Contains("tcp_listen = \"\"", config, StringComparison.Ordinal);
        File.WriteAllText(paths.ConfigFile, config.Replace("tcp_listen = \"\"", $"tcp_listen = \"127.0.0.1:{ullmdPort}\"", StringComparison.Ordinal));

        var daemon = await DaemonProcess.StartAsync(dir, paths);
        try
        {
            var load = await daemon.CtlAsync("load", "tiny", "--wait");
            Assert.True(load.ExitCode == 0, load.ToString());

            // /metrics on TCP needs a key (#21): Prometheus sends one, as docs/configuration.md shows.
            var created = await daemon.CtlAsync("keys", "create", "--name", "prometheus", "--json");
            Assert.True(created.ExitCode == 0, created.ToString());
            var scrapeKey = JsonDocument.Parse(created.StandardOutput).RootElement.GetProperty("secret").GetString()!;
            var prometheusPort = FreeLoopbackPort();
            dir.Write("prometheus.yml", $"""
                global:
                  scrape_interval: 1s
                  evaluation_interval: 1s
                scrape_configs:
                  - job_name: unified-llm
                    metrics_path: /metrics
                    authorization:
                      credentials: "{scrapeKey}"
                    static_configs:
                      - targets: ["127.0.0.1:{ullmdPort}"]
                """);
            using var server = StartPrometheus(prometheus, dir, prometheusPort);
            try
            {
                using var api = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{prometheusPort}/"), Timeout = TimeSpan.FromSeconds(10) };
                await WaitForAsync(async () => (await api.GetAsync("-/ready", ct)).IsSuccessStatusCode, TimeSpan.FromSeconds(30), "Prometheus /-/ready");

                using var traffic = CancellationTokenSource.CreateLinkedTokenSource(ct);
                var requests = SendTrafficAsync(paths.OpenAiSocket, traffic.Token);
                try
                {
                    // Enough 1 s scrapes for every rate() window of the queries.
                    await WaitForAsync(
                        async () => (await QueryAsync(api, "count_over_time(up{job=\"unified-llm\"}[1m]) >= 6", ct)).GetArrayLength() > 0,
                        TimeSpan.FromSeconds(60),
                        "6 scrapes of ullmd");
                    var up = await QueryAsync(api, "up{job=\"unified-llm\"}", ct);
                    Assert.Equal("1", Assert.Single(up.EnumerateArray()).GetProperty("value")[1].GetString());

                    var empty = new List<string>();
                    var count = 0;
                    foreach (var (panel, expr) in DashboardQueries())
                    {
                        count++;
                        // Grafana's own variables, as Grafana would fill them with a 1 s scrape interval.
                        var query = expr.Replace("$__rate_interval", "15s", StringComparison.Ordinal).Replace("$job", "unified-llm", StringComparison.Ordinal);
                        var result = await QueryAsync(api, query, ct);
                        var values = result.EnumerateArray().Select(r => r.GetProperty("value")[1].GetString()).ToList();
                        if (values.Count == 0 || values.All(v => v is "NaN"))
                        {
                            empty.Add($"{panel}: {query} -> {result}");
                        }
                    }

                    Assert.True(empty.Count == 0, $"{empty.Count} of {count} dashboard queries returned no data:\n{string.Join('\n', empty)}\nullmd output:\n{daemon.Output}");
                    Assert.True(count >= 15, $"only {count} queries");
                    // Between two backoffs (the next request's load attempt) the series is briefly absent: any sample of the last minute.
                    var held = await QueryAsync(api, "max_over_time(ullm_model_load_held{model=\"broken\", kind=\"backoff\"}[1m]) == 1", ct);
                    Assert.True(held.GetArrayLength() == 1, $"no backoff hold of model broken: {held}");
                    Assert.Empty((await QueryAsync(api, "max_over_time(ullm_model_load_held{model=\"tiny\"}[1m])", ct)).EnumerateArray());
                }
                finally
                {
                    await traffic.CancelAsync();
                    var sent = await requests;
                    Assert.True(sent > 0, "no request was sent");
                }
            }
            finally
            {
                server.Kill(entireProcessTree: true);
                await server.WaitForExitAsync(CancellationToken.None);
            }
        }
        finally
        {
            // SIGTERM: ullmd stops the llama-server it started (stop_backends_on_exit).
            await daemon.StopAsync();
            await daemon.DisposeAsync();
        }
    }

    private static bool IsPrometheusVariable(JsonElement element) =>
        element.TryGetProperty("datasource", out var datasource)
        && datasource.ValueKind == JsonValueKind.Object
        && datasource.GetProperty("type").GetString() == "prometheus"
        && datasource.GetProperty("uid").GetString() == "${datasource}";

    private static IEnumerable<(string Panel, string Expr)> DashboardQueries()
    {
        using var dashboard = JsonDocument.Parse(File.ReadAllText(DashboardPath));
        return [.. dashboard.RootElement.GetProperty("panels").EnumerateArray()
            .SelectMany(p => p.GetProperty("targets").EnumerateArray().Select(t => (p.GetProperty("title").GetString()!, t.GetProperty("expr").GetString()!)))];
    }

    /// <summary>
    /// Local and cloud chat completions, streamed and not, requests for an unknown model (404s) and for a model whose loads
    /// fail (503s, then a backoff hold), until cancelled.
    /// </summary>
    private static async Task<int> SendTrafficAsync(string socket, CancellationToken cancellationToken)
    {
        using var http = GatewayHost.UnixClient(socket);
        var bodies = new[]
        {
            Http.Chat("tiny", stream: true, extra: ",\"max_tokens\":4,\"ignore_eos\":true"),
            Http.Chat("tiny", extra: ",\"max_tokens\":4,\"ignore_eos\":true"),
            Http.Chat("cloud/gpt-x"),
            Http.Chat("no-such-model"),
            Http.Chat("broken"),
        };
        var sent = 0;
        while (!cancellationToken.IsCancellationRequested)
        {
            foreach (var body in bodies)
            {
                try
                {
                    using var request = Http.Post("/v1/chat/completions", body);
                    using var response = await http.SendAsync(request, cancellationToken);
                    await response.Content.ReadAsStringAsync(cancellationToken);
                    sent++;
                }
                catch (OperationCanceledException)
                {
                    return sent;
                }
            }

            try
            {
                await Task.Delay(100, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                return sent;
            }
        }

        return sent;
    }

    private static async Task<JsonElement> QueryAsync(HttpClient api, string query, CancellationToken cancellationToken)
    {
        using var response = await api.GetAsync("api/v1/query?query=" + Uri.EscapeDataString(query), cancellationToken);
        var text = await response.Content.ReadAsStringAsync(cancellationToken);
        Assert.True(response.IsSuccessStatusCode, $"{query}: HTTP {(int)response.StatusCode}: {text}");
        using var document = JsonDocument.Parse(text);
        Assert.Equal("success", document.RootElement.GetProperty("status").GetString());
        return document.RootElement.GetProperty("data").GetProperty("result").Clone();
    }

    private static async Task WaitForAsync(Func<Task<bool>> condition, TimeSpan timeout, string what)
    {
        var deadline = Stopwatch.StartNew();
        Exception? last = null;
        while (deadline.Elapsed < timeout)
        {
            try
            {
                if (await condition())
                {
                    return;
                }
            }
            catch (HttpRequestException e)
            {
                last = e;
            }

            await Task.Delay(250, TestContext.Current.CancellationToken);
        }

        throw new TimeoutException($"{what}: not within {timeout}{(last is null ? "" : $" (last error: {last.Message})")}");
    }

    private static Process StartPrometheus(string program, TempDirectory dir, int port)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in new[]
                 {
                     $"--config.file={dir.File("prometheus.yml")}",
                     $"--storage.tsdb.path={dir.File("prometheus-data")}",
                     // Loopback only.
                     $"--web.listen-address=127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}",
                     "--log.level=warn",
                 })
        {
            start.ArgumentList.Add(argument);
        }

        var process = Process.Start(start)!;
        // Warnings only (--log.level=warn); read so that a full pipe never blocks it.
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    private static int FreeLoopbackPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static string? FindOnPath(string program) =>
        (Environment.GetEnvironmentVariable("PATH") ?? string.Empty)
            .Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => Path.Combine(dir, program))
            .FirstOrDefault(File.Exists);
}
