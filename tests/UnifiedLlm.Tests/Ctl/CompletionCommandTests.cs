using UnifiedLlm.Tests.Support;

namespace UnifiedLlm.Tests.Ctl;

/// <summary>The completion scripts, run by a real bash against the real ullmctl (found on PATH through a wrapper script).</summary>
public sealed class CompletionCommandTests : IDisposable
{
    private readonly TempDirectory dir = new("ullm-completion");

    public void Dispose() => dir.Dispose();

    [Theory]
    [InlineData("ullmctl pl", "plan")]
    [InlineData("ullmctl plan --c", "--ctx")]
    [InlineData("ullmctl completion z", "zsh")]
    [InlineData("ullmctl models --backend v", "vllm")]
    public async Task Bash_completes_commands_options_and_their_values(string line, string expected)
    {
        var words = line.Split(' ');
        var candidates = await CandidatesAsync(line);
        Assert.Contains(expected, candidates);
        Assert.All(candidates, c => Assert.StartsWith(words[^1], c, StringComparison.Ordinal));
    }

    [Fact]
    public async Task The_backend_names_completed_are_the_daemons_own()
    {
        var names = UnifiedLlm.Daemon.Config.EnumNames.Backends.Names.ToList();
        foreach (var name in names)
        {
            var candidates = await CandidatesAsync($"ullmctl models --backend {name[..1]}");
            Assert.Contains(name, candidates);
            Assert.All(candidates, c => Assert.Contains(c, names));
        }
    }

    private async Task<string[]> CandidatesAsync(string line)
    {
        var script = (await ProcessRunner.DotnetAsync(RepoPaths.Ullmctl, ["completion", "bash"])).StandardOutput;
        dir.Write("completion.bash", script);
        var bin = dir.Write("bin/ullmctl", $"#!/bin/sh\nexec dotnet '{RepoPaths.Ullmctl}' \"$@\"\n");
        File.SetUnixFileMode(bin, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var result = await ProcessRunner.RunAsync(
            "bash",
            ["-c", $"source '{dir.File("completion.bash")}'; COMP_LINE=\"$1\"; COMP_POINT=${{#COMP_LINE}}; read -ra COMP_WORDS <<< \"$1\"; COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 )); _ullmctl_complete; printf '%s\\n' \"${{COMPREPLY[@]}}\"", "bash", line],
            new Dictionary<string, string> { ["PATH"] = $"{dir.File("bin")}:{Environment.GetEnvironmentVariable("PATH")}" });

        Assert.Equal(0, result.ExitCode);
        return result.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries);
    }

    [Theory]
    [InlineData("bash", "complete -o default -F _ullmctl_complete ullmctl")]
    [InlineData("zsh", "#compdef ullmctl")]
    [InlineData("fish", "complete -c ullmctl -f -a")]
    public async Task Each_shell_gets_its_own_script(string shell, string marker)
    {
        var result = await ProcessRunner.DotnetAsync(RepoPaths.Ullmctl, ["completion", shell]);

        Assert.Equal(0, result.ExitCode);
        Assert.Contains(marker, result.StandardOutput);
    }

    [Fact]
    public async Task An_unknown_shell_is_a_usage_error()
    {
        var result = await ProcessRunner.DotnetAsync(RepoPaths.Ullmctl, ["completion", "tcsh"]);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("tcsh", result.StandardError);
    }
}
