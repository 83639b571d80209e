using UnifiedLlm.Tests.Support;

namespace UnifiedLlm.Tests.Ctl;

/// <summary>
/// load, logs and unload against a real ullmd running a real llama-server, and their failures.
/// </summary>
public sealed class LifecycleCommandTests
{
    [Fact]
    public async Task Load_models_and_unload_drive_a_real_llama_server_through_ullmd()
    {
        var binary = Models.LlamaServerBinary.Find();
        if (binary is null)
        {
            Assert.Skip(Models.LlamaServerBinary.HowToGet);
        }

        await using var host = await CtlHost.StartAsync(nvml: null, extraConfig: $"[backends.llamacpp]\nexecutable = \"{binary}\"\n");

        var load = await host.CtlAsync("load", "small", "--wait");
        Assert.True(load.ExitCode == 0, $"load failed ({load.ExitCode}): {load.StandardError}");
        Assert.Contains("tiny", load.StandardOutput + load.StandardError, StringComparison.Ordinal);
        var loaded = await host.CtlAsync("models", "--loaded", "--json");
        Assert.Contains("\"tiny\"", loaded.StandardOutput, StringComparison.Ordinal);
        var logs = await host.CtlAsync("logs", "tiny", "-n", "200");
        Assert.True(logs.ExitCode == 0, $"logs failed ({logs.ExitCode}): {logs.StandardError}");
        Assert.Contains("model loaded", logs.StandardOutput, StringComparison.Ordinal);

        using var client = Gateway.GatewayHost.UnixClient(host.Daemon.Paths.OpenAiSocket);
        Assert.Contains("ullm_model_instances{model=\"tiny\",state=\"ready\"} 1", await client.GetStringAsync("metrics", TestContext.Current.CancellationToken), StringComparison.Ordinal);

        var unload = await host.CtlAsync("unload", "tiny");
        Assert.True(unload.ExitCode == 0, $"unload failed ({unload.ExitCode}): {unload.StandardError}");
        Assert.DoesNotContain("\"tiny\"", (await host.CtlAsync("models", "--loaded", "--json")).StandardOutput, StringComparison.Ordinal);
        Assert.DoesNotContain("ullm_model_instances{model=\"tiny\"", await client.GetStringAsync("metrics", TestContext.Current.CancellationToken), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_load_that_fails_says_why_and_exits_1()
    {
        await using var host = await CtlHost.StartAsync(nvml: null, extraConfig: "[backends.llamacpp]\nexecutable = \"/nonexistent/llama-server\"\n");

        var result = await host.CtlAsync("load", "tiny", "--wait");

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("tiny failed to load", result.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Logs_of_a_model_that_never_ran_are_not_found()
    {
        await using var host = await CtlHost.StartAsync(nvml: null);

        var result = await host.CtlAsync("logs", "tiny", "-f", "-n", "10");

        Assert.Equal(5, result.ExitCode);
        Assert.Equal("ullmctl: model: 'tiny' has not been started since ullmd started; load it first\n", result.StandardError);
    }

    [Fact]
    public async Task Load_checks_its_options_before_calling_the_daemon()
    {
        using var dir = new TempDirectory("ullm-ctl");

        var result = await ProcessRunner.DotnetAsync(RepoPaths.Ullmctl, ["load", "tiny", "--layers", "lots", "--socket", dir.File("absent.sock")]);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("--layers: 'lots' is not 'auto' or a number of layers", result.StandardError);
    }
}
