using System.Globalization;
using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using UnifiedLlm.Daemon.Backends.Rpc;
using UnifiedLlm.Daemon.Supervision;
using UnifiedLlm.Tests.Models;
using UnifiedLlm.Tests.Support;
using RandomModelShape = UnifiedLlm.Daemon.Models.RandomModelShape;

namespace UnifiedLlm.Tests.Reliability;

/// <summary>
/// A model split over this host's CPU and two llama.cpp RPC workers, every part real: three ullmd processes on loopback
/// addresses of their own (the workers on 127.0.0.2 and 127.0.0.3 run ggml-rpc-server, CPU devices), a real llama-server
/// on the head. [rpc_head] host_memory_mib and each worker's memory_limit_mib keep the model from fitting on any one.
/// </summary>
public sealed class RpcSplitTests
{
    /// <summary>6 layers of 4 MiB (f32, n_embd 256, n_ff 1024): room for a few per device.</summary>
    private static readonly RandomModelShape Split = new(256, 4, 4, 6, 1024, 256);

    [Fact(Timeout = 240_000)]
    public async Task A_model_too_big_for_the_head_is_split_over_two_workers_as_planned_and_fails_naming_the_worker_that_dies_mid_load_or_mid_request()
    {
        var (rpc, reason) = RpcServerBinary.Find();
        if (rpc is null)
        {
            Assert.Skip(reason);
        }

        var ct = TestContext.Current.CancellationToken;
        var (portA, portB) = (TestPki.FreePort(), TestPki.FreePort());
        await using var a = (await TinyDaemon.StartAsync("ullm-rpc-a-", Worker("127.0.0.2", portA, rpc)))!;
        await using var b = (await TinyDaemon.StartAsync("ullm-rpc-b-", Worker("127.0.0.3", portB, rpc)))!;
        var (freeA, _) = await RpcWorkerRoleTests.ReportedAsync(a, 1, ct);
        var (freeB, _) = await RpcWorkerRoleTests.ReportedAsync(b, 1, ct);
        await using var head = (await TinyDaemon.StartAsync("ullm-rpc-head-", $"""
            [rpc_workers.a]
            address = "127.0.0.2:{portA}"
            memory_limit_mib = 14
            poll_interval_seconds = 0.5

            [rpc_workers.b]
            address = "127.0.0.3:{portB}"
            memory_limit_mib = 14
            poll_interval_seconds = 0.5

            [rpc_head]
            host_memory_mib = 14
            """, modelExtra: "extra_args = [\"--verbose\"]", shape: Split))!;

        // The plan: layers on the head and on both workers, from the memory the workers' own ullmd logged.
        var plan = await PlanAsync(head, ct);
        var remote = plan.GetProperty("remote").EnumerateArray().ToArray();
        Assert.True(remote.Length == 2, plan.ToString());
        Assert.Equal([("a", freeA), ("b", freeB)], remote.Select(r => (r.GetProperty("worker").GetString()!, ulong.Parse(r.GetProperty("freeBytes").GetString()!, CultureInfo.InvariantCulture))).Order());
        var gpuLayers = plan.GetProperty("gpuLayers").GetInt32();
        Assert.True(gpuLayers < Split.LayerCount + 1 && remote.All(r => r.GetProperty("layers").GetInt32() > 0), plan.ToString());

        // ullmctl plan, as people read it: each remote device is a place of the load, a row, and rows of terms.
        var text = (await head.Process.CtlAsync("plan", "tiny")).StandardOutput;
        foreach (var r in remote)
        {
            var device = $"rpc:{r.GetProperty("worker").GetString()}/0";
            Assert.Contains($"{device} ({r.GetProperty("address").GetString()})", text.Split('\n')[0], StringComparison.Ordinal);
            Assert.Contains($"\n{device}: {r.GetProperty("layers").GetInt32()} layers, ", text, StringComparison.Ordinal);
            Assert.Matches($@"(?m)^{Regex.Escape(device)}\s+weights\s", text);
        }
        using var client = head.Client();
        var silentB = $"rpc worker 'b' (127.0.0.3:{portB}): does not answer";

        // Worker b dies while the head's llama-server loads: its ullmd is frozen first, so that nothing starts it
        // again, then its ggml-rpc-server is killed once the head's llama-server runs. The load fails naming b.
        var workerB = Assert.Single(b.Backends(), w => w.Model == RpcWorkerRole.ModelLabel);
        Signals.Send(b.Process.Pid, Signals.Stop);
        try
        {
            var load = client.SendAsync(TinyDaemon.Chat(8, stream: false), ct);
            var llamaServer = await WaitForAsync(() => head.Backends() is [var first, ..] ? first : null, "the head's llama-server to start", ct);
            ProcessGroupSignals.Send(workerB.Pid, ProcessGroupSignals.Kill);
            using var failed = await load;
            var failedBody = await failed.Content.ReadAsStringAsync(ct);
            Assert.True(failed.StatusCode != HttpStatusCode.OK, $"a load whose worker died (llama-server pid {llamaServer.Pid}) answered: {failedBody}");
            Assert.Contains(silentB, ErrorMessage(failedBody), StringComparison.Ordinal);
        }
        finally
        {
            Signals.Send(b.Process.Pid, Signals.Continue);
        }

        // b's ullmd starts its worker again; once the head reads it, the same plan loads and chats.
        await RpcWorkerRoleTests.ReportedAsync(b, 2, ct);
        var replanned = await WaitForAsync(async () => (await PlanAsync(head, ct)).TryGetProperty("remote", out var r) && r.GetArrayLength() == 2 ? r.ToString() : null, "the head to place layers on b again", ct);
        Assert.Equal(plan.GetProperty("remote").ToString(), replanned);
        using (var chat = await client.SendAsync(TinyDaemon.Chat(8, stream: false), ct))
        {
            Assert.True(chat.StatusCode == HttpStatusCode.OK, await chat.Content.ReadAsStringAsync(ct) + head.Process.Output);
        }

        // llama-server's own account of the split: each device's model buffer holds exactly the planned weights.
        var backend = Assert.Single(head.Backends());
        var log = await File.ReadAllTextAsync(backend.OutputFile, ct);
        var terms = plan.GetProperty("terms").EnumerateArray().ToArray();
        foreach (var r in remote)
        {
            var label = $"rpc:{r.GetProperty("worker").GetString()}/0";
            var weights = ulong.Parse(terms.Single(t => t.GetProperty("where").GetString() == label && t.GetProperty("name").GetString() == "weights").GetProperty("bytes").GetString()!, CultureInfo.InvariantCulture);
            var address = r.GetProperty("address").GetString()!;
            // The buffer is named after the device's index on its worker: RPC0 on each.
            var line = $@"RPC0\[{Regex.Escape(address)}\] model buffer size =\s+{Regex.Escape((weights / 1048576.0).ToString("0.00", CultureInfo.InvariantCulture))} MiB";
            Assert.True(Regex.IsMatch(log, line), $"expected '{line}' in llama-server's log:\n{log}");
        }

        // Worker b's host dies while a request streams: the stream ends early. The 200 tokens take about 0.35 s, less
        // than killing a process tree may take on a loaded machine, so b's worker is stopped as the first chunk
        // arrives: llama-server then waits on b for the next token until the kill ends b's connection.
        var restartedB = Assert.Single(b.Backends(), w => w.Model == RpcWorkerRole.ModelLabel);
        using (var stream = await client.SendAsync(TinyDaemon.Chat(200, stream: true), HttpCompletionOption.ResponseHeadersRead, ct))
        {
            Assert.Equal(HttpStatusCode.OK, stream.StatusCode);
            using var reader = new StreamReader(await stream.Content.ReadAsStreamAsync(ct));
            Assert.StartsWith("data: ", await reader.ReadLineAsync(ct), StringComparison.Ordinal);
            ProcessGroupSignals.Send(restartedB.Pid, Signals.Stop);
            using (var host = System.Diagnostics.Process.GetProcessById(b.Process.Pid))
            {
                host.Kill(entireProcessTree: true);
                await host.WaitForExitAsync(ct);
            }

            var rest = await ReadRestAsync(reader, ct);
            Assert.DoesNotContain("data: [DONE]", rest, StringComparison.Ordinal);

            // Ended by ullmd's error event for the lost backend, not by one of llama-server's own (a random model's
            // answer can end in bytes that are not UTF-8, which llama-server reports as an error once it has generated
            // them all).
            Assert.Contains("\"error\"", rest, StringComparison.Ordinal);
            Assert.DoesNotContain("invalid UTF-8", rest, StringComparison.Ordinal);
        }

        // The instance's failure, as ullmd logs it, names the worker first.
        await WaitForAsync(() => head.Process.Output.Contains($"failure: tiny: backend exited: {silentB}", StringComparison.Ordinal) ? "" : null, () => $"the instance's failure naming b:\n{head.Process.Output}", ct);

        // Without b the model fits nowhere: the next request is refused naming it, and so is ullmctl plan.
        using var after = await client.SendAsync(TinyDaemon.Chat(8, stream: false), ct);
        var body = await after.Content.ReadAsStringAsync(ct);
        Assert.NotEqual(HttpStatusCode.OK, after.StatusCode);
        Assert.Contains(silentB, ErrorMessage(body), StringComparison.Ordinal);
        var refused = (await head.Process.CtlAsync("plan", "tiny")).StandardOutput;
        Assert.StartsWith("tiny does not fit: ", refused, StringComparison.Ordinal);
        Assert.Contains(silentB, refused, StringComparison.Ordinal);
    }

    private static string Worker(string address, int port, string rpc) => $"""
        [rpc_worker]
        listen = "{address}:{port}"
        executable = "{rpc}"
        threads = 1
        """;

    private static async Task<JsonElement> PlanAsync(TinyDaemon head, CancellationToken ct)
    {
        // The workers are read every 0.5 s; the first plan may come before their first answer.
        for (var attempt = 0; ; attempt++)
        {
            var result = await head.Process.CtlAsync("--json", "plan", "tiny");
            using var json = JsonDocument.Parse(result.StandardOutput);
            if (json.RootElement.TryGetProperty("remote", out _) || attempt == 20)
            {
                return json.RootElement.Clone();
            }

            await Task.Delay(250, ct);
        }
    }

    private static string ErrorMessage(string body)
    {
        using var json = JsonDocument.Parse(body);
        return json.RootElement.GetProperty("error").GetProperty("message").GetString()!;
    }

    private static async Task<string> ReadRestAsync(StreamReader reader, CancellationToken ct)
    {
        try
        {
            return await reader.ReadToEndAsync(ct);
        }
        catch (Exception e) when (e is IOException or HttpRequestException)
        {
            return $"(cut: {e.Message})";
        }
    }

    /// <summary><paramref name="probe"/>'s first answer that is not null, asked every 100 ms for up to 60 s.</summary>
    private static Task<T> WaitForAsync<T>(Func<Task<T?>> probe, string what, CancellationToken ct)
        where T : class => WaitForAsync(probe, () => what, ct);

    private static async Task<T> WaitForAsync<T>(Func<Task<T?>> probe, Func<string> what, CancellationToken ct)
        where T : class
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (true)
        {
            if (await probe() is { } found)
            {
                return found;
            }

            Assert.True(DateTime.UtcNow < deadline, $"waited 60 s for {what()}");
            await Task.Delay(100, ct);
        }
    }

    private static Task<T> WaitForAsync<T>(Func<T?> probe, string what, CancellationToken ct)
        where T : class => WaitForAsync(() => Task.FromResult(probe()), () => what, ct);

    private static Task<T> WaitForAsync<T>(Func<T?> probe, Func<string> what, CancellationToken ct)
        where T : class => WaitForAsync(() => Task.FromResult(probe()), what, ct);
}
