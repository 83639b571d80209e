using System.Diagnostics;
using UnifiedLlm.Tests.Gateway;
using UnifiedLlm.Tests.Support;
using UnifiedLlm.Tests.Systemd;
using LlamaServerBinary = UnifiedLlm.Tests.Models.LlamaServerBinary;
using RandomModelShape = UnifiedLlm.Daemon.Models.RandomModelShape;
using TinyModel = UnifiedLlm.Daemon.Models.TinyModel;

namespace UnifiedLlm.Tests.Reliability;

/// <summary>
/// A whole ullmd under the systemd supervisor (a real systemd booted in a container, reached over its real system bus)
/// whose D-Bus connection is dropped from the bus's side: the bus daemon is restarted, as a package upgrade does
/// (issue #21).
/// </summary>
public sealed class SystemdBusDropTests(SystemdContainerFixture container) : IClassFixture<SystemdContainerFixture>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    [Fact(Timeout = 300_000)]
    public async Task Ullmd_reconnects_once_keeps_serving_its_unit_and_loads_unloads_and_ttl_unloads_over_the_new_connection()
    {
        var ct = TestContext.Current.CancellationToken;
        var llamaServer = LlamaServerBinary.Find();
        if (llamaServer is null)
        {
            Assert.Skip(LlamaServerBinary.HowToGet);
        }

        using var dir = new TempDirectory("ullm-bus-drop");
        // The program and the model where the units' dynamic user can read them: the units have a /tmp of their own, and
        // the build cache may sit under /root (0700).
        var model = Path.Combine(container.SharedDirectory, "tiny.gguf");
        TinyModel.Write(model, RandomModelShape.Tiny);
        var executable = Path.Combine(container.SharedDirectory, "llama-server");
        File.Copy(llamaServer, executable);
        var paths = DaemonProcess.WriteConfig(dir, $"""
            [backends.llamacpp]
            executable = "{executable}"

            [models.tiny]
            backend = "llamacpp"
            source = "{model}"
            context = 256
            parallel = 1

            [models.brief]
            backend = "llamacpp"
            source = "{model}"
            context = 256
            parallel = 1
            ttl_seconds = 2
            """, serverExtra: $"supervisor = \"systemd\"\nsystemd_address = \"{container.BusAddress}\"\nstop_backends_on_exit = true");
        await using var daemon = await DaemonProcess.StartAsync(dir, paths);
        using var client = GatewayHost.UnixClient(paths.OpenAiSocket);

        var load = await daemon.CtlAsync("load", "tiny", "--wait");
        Assert.True(load.ExitCode == 0, load.ToString());
        var unit = Assert.Single(await UnitsAsync(ct));
        var before = await ShowAsync(unit, ct);
        await ChatAsync(client, "tiny", ct);

        var restart = await container.ExecInsideAsync(ct, "systemctl", "restart", "dbus.service");
        Assert.True(restart.ExitCode == 0, restart.ToString());
        // Served throughout: requests go to the backend over HTTP, not over the bus.
        await ChatAsync(client, "tiny", ct);
        await EventuallyAsync(() => daemon.Output.Contains("D-Bus connection to systemd is back", StringComparison.Ordinal), "ullmd never said it reconnected", daemon);

        Assert.Equal(before, await ShowAsync(unit, ct));
        await ChatAsync(client, "tiny", ct);
        var status = await daemon.CtlAsync("status");
        Assert.True(status.ExitCode == 0 && status.StandardOutput.Contains(unit, StringComparison.Ordinal), status.ToString());

        // The next unload, load and TTL unload go over the new connection.
        var unload = await daemon.CtlAsync("unload", "tiny");
        Assert.True(unload.ExitCode == 0, unload.ToString());
        await EventuallyAsync(async () => (await UnitsAsync(ct)).Count == 0, "the unloaded unit still runs", daemon);
        load = await daemon.CtlAsync("load", "tiny", "--wait");
        Assert.True(load.ExitCode == 0, load.ToString());
        var reloaded = Assert.Single(await UnitsAsync(ct));
        Assert.NotEqual(before, await ShowAsync(reloaded, ct));
        await ChatAsync(client, "tiny", ct);
        await ChatAsync(client, "brief", ct);
        Assert.Equal(2, (await UnitsAsync(ct)).Count);
        await EventuallyAsync(async () => (await UnitsAsync(ct)).Count == 1, "brief's unit outlived its 2 s TTL", daemon);

        Assert.Equal(0, await daemon.StopAsync());
        Assert.Empty(await UnitsAsync(ct));
        var log = daemon.Output;
        Assert.Equal(1, Count(log, "lost its D-Bus connection to systemd"));
        Assert.Equal(1, Count(log, "D-Bus connection to systemd is back"));
        // No crash recorded for the unit that ran on: an instance marked failed is logged with its reason.
        Assert.DoesNotContain("-> failed", log, StringComparison.Ordinal);
        Assert.DoesNotContain(" failed: ", log, StringComparison.Ordinal);
    }

    private static int Count(string text, string part) => (text.Length - text.Replace(part, "", StringComparison.Ordinal).Length) / part.Length;

    private static async Task ChatAsync(HttpClient client, string model, CancellationToken ct)
    {
        using var request = Http.Post("/v1/chat/completions", $$"""{"model":"{{model}}","messages":[{"role":"user","content":"hello"}],"max_tokens":4}""");
        using var response = await client.SendAsync(request, ct);
        Assert.True(response.IsSuccessStatusCode, $"{model}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync(ct)}");
    }

    /// <summary>The backend units running in the container now.</summary>
    private async Task<List<string>> UnitsAsync(CancellationToken ct)
    {
        var listed = await container.ExecInsideAsync(ct, "systemctl", "list-units", "--plain", "--no-legend", "--state=active,activating", "ullm-*.service");
        return [.. listed.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split(' ', 2)[0])];
    }

    /// <summary>What tells one run of a unit from another: its main process and invocation.</summary>
    private async Task<string> ShowAsync(string unit, CancellationToken ct) =>
        (await container.ExecInsideAsync(ct, "systemctl", "show", "--property=MainPID,InvocationID,ActiveState", unit)).StandardOutput.Trim();

    private static Task EventuallyAsync(Func<bool> condition, string failure, DaemonProcess daemon) =>
        EventuallyAsync(() => Task.FromResult(condition()), failure, daemon);

    private static async Task EventuallyAsync(Func<Task<bool>> condition, string failure, DaemonProcess daemon)
    {
        var clock = Stopwatch.StartNew();
        while (!await condition())
        {
            Assert.True(clock.Elapsed < Patience, $"{failure} within {Patience.TotalSeconds} s:\n{daemon.Output}");
            await Task.Delay(100);
        }
    }
}
