using System.Diagnostics;
using System.Text.Json;
using UnifiedLlm.Admin.V1;
using UnifiedLlm.Tests.Support;

namespace UnifiedLlm.Tests.Ctl;

/// <summary>
/// load, switch, unload and logs output against <see cref="ScriptedAdminServer"/> (real gRPC on a unix socket) standing in
/// for ullmd's scheduler and supervisor with scripted timings: phases with elapsed times, detaching, failures, Ctrl-C.
/// </summary>
public sealed class ProgressCommandTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Load_wait_prints_each_phase_with_its_elapsed_time_until_ready()
    {
        await using var server = await ScriptedAdminServer.StartAsync(FullLoad("tiny"));

        var result = await server.CtlAsync("load", "tiny", "--ctx", "128", "--layers", "auto", "--gpu", "1", "--wait");

        Assert.Equal(0, result.ExitCode);
        Assert.Equal(
            """
                0.0s  tiny queued
                0.0s  tiny planning: GPU1, -ngl 3, n_ctx 128
                0.3s  tiny starting unit [ullm-tiny-1.service]
                0.8s  tiny loading weights [ullm-tiny-1.service]
                2.5s  tiny ready [ullm-tiny-1.service]

            """,
            result.StandardOutput);
        var request = Assert.IsType<LoadModelRequest>(await server.Scripted.Received.Task);
        Assert.Equal(new LoadModelRequest { Name = "tiny", Context = 128, GpuLayers = "auto", Gpu = 1 }, request);
    }

    [Fact]
    public async Task Load_without_wait_detaches_once_weights_are_loading()
    {
        var script = new ScriptedAdminServer.Script { HoldOpenAfterProgress = true };
        script.Progress.AddRange(FullLoad("tiny").Progress.Take(4));
        await using var server = await ScriptedAdminServer.StartAsync(script);

        var result = await server.CtlAsync("load", "tiny");

        Assert.Equal(0, result.ExitCode);
        Assert.EndsWith("    0.8s  tiny loading weights [ullm-tiny-1.service]\n", result.StandardOutput);
        Assert.Equal("ullmctl: tiny is loading in the background; 'ullmctl load --wait' follows it to ready, 'ullmctl events' shows when it is\n", result.StandardError);
        await server.Scripted.ClientCancelled.Task.WaitAsync(Wait);
        Assert.False(server.Scripted.Unloaded.Task.IsCompleted, "detaching must not unload the model");
    }

    [Fact]
    public async Task A_failed_load_exits_1_with_the_daemons_reason()
    {
        var script = new ScriptedAdminServer.Script();
        script.Progress.Add((TimeSpan.Zero, Progress("big", LoadPhase.Planning, 5)));
        script.Progress.Add((TimeSpan.Zero, Progress("big", LoadPhase.Failed, 2000, "big needs 9.80 GiB, 6.10 GiB free on GPU0 after evicting nothing: small is pinned")));
        await using var server = await ScriptedAdminServer.StartAsync(script);

        var result = await server.CtlAsync("load", "big", "--wait");

        Assert.Equal(1, result.ExitCode);
        Assert.Equal("ullmctl: big failed to load after 2.0s: big needs 9.80 GiB, 6.10 GiB free on GPU0 after evicting nothing: small is pinned\n", result.StandardError);
    }

    [Fact]
    public async Task A_stream_that_ends_before_ready_is_a_failure()
    {
        var script = new ScriptedAdminServer.Script();
        script.Progress.AddRange(FullLoad("tiny").Progress.Take(3));
        await using var server = await ScriptedAdminServer.StartAsync(script);

        var result = await server.CtlAsync("switch", "other", "tiny");

        Assert.Equal(1, result.ExitCode);
        Assert.Equal("ullmctl: the daemon ended the progress stream before the load finished (last phase: starting unit)\n", result.StandardError);
        Assert.Equal(new SwitchModelRequest { From = "other", To = "tiny" }, await server.Scripted.Received.Task);
    }

    [Fact]
    public async Task Load_json_prints_one_progress_message_per_line()
    {
        await using var server = await ScriptedAdminServer.StartAsync(FullLoad("tiny"));

        var result = await server.CtlAsync("load", "tiny", "--wait", "--json");

        Assert.Equal(0, result.ExitCode);
        var lines = result.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(
            ["LOAD_PHASE_QUEUED", "LOAD_PHASE_PLANNING", "LOAD_PHASE_STARTING_UNIT", "LOAD_PHASE_LOADING_WEIGHTS", "LOAD_PHASE_READY"],
            lines.Select(l => JsonDocument.Parse(l).RootElement.GetProperty("phase").GetString()));
    }

    [Fact]
    public async Task Ctrl_c_during_a_load_ends_the_stream_and_unloads_the_model()
    {
        var script = new ScriptedAdminServer.Script { HoldOpenAfterProgress = true };
        script.Progress.AddRange(FullLoad("tiny").Progress.Take(3));
        await using var server = await ScriptedAdminServer.StartAsync(script);
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in new[] { RepoPaths.Ullmctl, "--socket", server.Socket, "load", "tiny", "--wait" })
        {
            start.ArgumentList.Add(argument);
        }

        using var ctl = Process.Start(start)!;
        var stderr = ctl.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        try
        {
            using (var started = new CancellationTokenSource(Wait))
            {
                while (await ctl.StandardOutput.ReadLineAsync(started.Token) is { } line && !line.Contains("starting unit", StringComparison.Ordinal))
                {
                }
            }

            Signals.Send(ctl.Id, Signals.Interrupt);
            using var timeout = new CancellationTokenSource(Wait);
            await ctl.WaitForExitAsync(timeout.Token);
        }
        finally
        {
            if (!ctl.HasExited)
            {
                ctl.Kill(entireProcessTree: true);
            }
        }

        Assert.Equal(1, ctl.ExitCode);
        Assert.Equal("ullmctl: cancelled: unloaded tiny (ullm-tiny-1.service)\n", await stderr);
        Assert.Equal(new UnloadModelRequest { Name = "tiny", Force = true }, await server.Scripted.Unloaded.Task.WaitAsync(Wait));
        await server.Scripted.ClientCancelled.Task.WaitAsync(Wait);
    }

    [Fact]
    public async Task On_a_terminal_one_status_line_keeps_counting_the_elapsed_time_and_ctrl_c_cancels()
    {
        var script = new ScriptedAdminServer.Script { HoldOpenAfterProgress = true };
        script.Progress.AddRange(FullLoad("tiny").Progress.Take(4));
        await using var server = await ScriptedAdminServer.StartAsync(script);
        using var dir = new TempDirectory("ullm-progress");
        var exitFile = dir.File("exit-code");
        await using var terminal = await TmuxSession.StartAsync(
            $"dotnet '{RepoPaths.Ullmctl}' --socket '{server.Socket}' load tiny --wait 2>'{dir.File("stderr")}'; echo $? > '{exitFile}'", 120, 10);

        var counting = await terminal.WaitForScreenAsync(
            s => System.Text.RegularExpressions.Regex.Match(s, @"(\d+\.\d)s  tiny loading weights \[ullm-tiny-1\.service\]") is { Success: true } m
                && double.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) >= 1.5,
            Wait,
            "the elapsed time counting past the last message's 0.8s");
        Assert.DoesNotContain("starting unit", counting);

        await terminal.SendKeysAsync("C-c");
        Assert.Equal(new UnloadModelRequest { Name = "tiny", Force = true }, await server.Scripted.Unloaded.Task.WaitAsync(Wait));
        var deadline = DateTime.UtcNow + Wait;
        while (!File.Exists(exitFile) || (await File.ReadAllTextAsync(exitFile)).Length == 0)
        {
            Assert.True(DateTime.UtcNow < deadline, $"ullmctl did not exit after Ctrl-C; screen:\n{await terminal.CaptureAsync()}");
            await Task.Delay(100);
        }

        Assert.Equal("1", (await File.ReadAllTextAsync(exitFile)).Trim());
        Assert.Equal("ullmctl: cancelled: unloaded tiny (ullm-tiny-1.service)\n", await File.ReadAllTextAsync(dir.File("stderr")));
    }

    [Fact]
    public async Task Unload_reports_what_it_stopped_and_a_refusal_names_the_reason()
    {
        await using var server = await ScriptedAdminServer.StartAsync(new ScriptedAdminServer.Script());

        var done = await server.CtlAsync("unload", "tiny");
        var refused = await server.CtlAsync("unload", "pinned");

        Assert.Equal(0, done.ExitCode);
        Assert.Equal("unloaded tiny (ullm-tiny-1.service) in 1.5s, 2 request(s) drained\n", done.StandardOutput);
        Assert.Equal(1, refused.ExitCode);
        Assert.Equal("ullmctl: FailedPrecondition: pinned is pinned: unload it with force\n", refused.StandardError);
    }

    [Fact]
    public async Task Logs_prints_the_journal_lines_and_follow_keeps_the_stream_open_until_ctrl_c()
    {
        var script = new ScriptedAdminServer.Script();
        script.Logs.Add(new LogLine { Time = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(new DateTimeOffset(2026, 11, 24, 12, 0, 1, TimeSpan.Zero)), Unit = "ullm-tiny-1.service", Priority = 6, Message = "main: server is listening" });
        await using var server = await ScriptedAdminServer.StartAsync(script);

        var result = await server.CtlAsync("logs", "tiny", "-n", "5");

        Assert.Equal(0, result.ExitCode);
        Assert.Equal("2026-11-24 12:00:01 ullm-tiny-1.service: main: server is listening\n", result.StandardOutput);
        Assert.Equal(new StreamLogsRequest { Model = "tiny", Lines = 5 }, await server.Scripted.Received.Task);
    }

    private static ScriptedAdminServer.Script FullLoad(string model)
    {
        var script = new ScriptedAdminServer.Script();
        script.Progress.Add((TimeSpan.Zero, Progress(model, LoadPhase.Queued, 0)));
        script.Progress.Add((TimeSpan.Zero, Progress(model, LoadPhase.Planning, 10, "GPU1, -ngl 3, n_ctx 128")));
        script.Progress.Add((TimeSpan.FromMilliseconds(50), Progress(model, LoadPhase.StartingUnit, 300, unit: "ullm-tiny-1.service")));
        script.Progress.Add((TimeSpan.FromMilliseconds(50), Progress(model, LoadPhase.LoadingWeights, 800, unit: "ullm-tiny-1.service")));
        script.Progress.Add((TimeSpan.FromMilliseconds(50), Progress(model, LoadPhase.Ready, 2500, unit: "ullm-tiny-1.service")));
        return script;
    }

    private static LoadProgress Progress(string model, LoadPhase phase, ulong elapsedMs, string message = "", string? unit = null) => new()
    {
        Model = model,
        Phase = phase,
        ElapsedMs = elapsedMs,
        Message = message,
        Instance = unit is null ? null : new ModelInstance { Model = model, Unit = unit },
    };
}
