using UnifiedLlm.Tests.Support;

namespace UnifiedLlm.Tests.Ctl;

/// <summary>
/// load, unload, switch and logs against a real ullmd whose scheduler and supervisor are not in this build: each says
/// so and exits 6, printing nothing made up.
/// </summary>
public sealed class LifecycleCommandTests
{
    [Theory]
    [InlineData("load", "tiny", "--wait")]
    [InlineData("load", "tiny", "--ctx", "128", "--layers", "auto", "--gpu", "0")]
    [InlineData("unload", "tiny", "--force")]
    [InlineData("switch", "tiny", "small")]
    public async Task Life_cycle_commands_report_the_missing_scheduler_with_exit_6(params string[] arguments)
    {
        await using var host = await CtlHost.StartAsync(nvml: null);

        var result = await host.CtlAsync(arguments);

        Assert.Equal(6, result.ExitCode);
        Assert.Equal("", result.StandardOutput);
        Assert.Equal("ullmctl: not available in this ullmd: the model scheduler (load on demand, unload, switch) is not in this build yet (issue #5)\n", result.StandardError);
    }

    [Fact]
    public async Task Logs_reports_the_missing_supervisor_with_exit_6()
    {
        await using var host = await CtlHost.StartAsync(nvml: null);

        var result = await host.CtlAsync("logs", "tiny", "-f", "-n", "10");

        Assert.Equal(6, result.ExitCode);
        Assert.Equal("ullmctl: not available in this ullmd: backend supervision (transient systemd units, their journal) is not in this build yet (issue #3)\n", result.StandardError);
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
