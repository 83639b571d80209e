using System.Diagnostics;

namespace UnifiedLlm.Tests.Packaging;

internal sealed record ScriptResult(int ExitCode, string StandardOutput, string StandardError)
{
    public override string ToString() => $"exit {ExitCode}\nstdout:\n{StandardOutput}\nstderr:\n{StandardError}";
}

/// <summary>Runs the repository's shell scripts (packaging checks, test tools) and programs to completion.</summary>
internal static class RepositoryScript
{
    public static string Root { get; } = FindRoot();

    /// <summary>Runs a script by its path relative to the repository root; a null value removes that variable.</summary>
    public static Task<ScriptResult> RunAsync(
        string relativePath, IReadOnlyList<string> arguments, IReadOnlyDictionary<string, string?> environment, TimeSpan timeout) =>
        RunProgramAsync("bash", [Path.Combine(Root, relativePath), .. arguments], environment, timeout);

    public static async Task<ScriptResult> RunProgramAsync(
        string program, IReadOnlyList<string> arguments, IReadOnlyDictionary<string, string?> environment, TimeSpan timeout)
    {
        var start = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Root,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var (name, value) in environment)
        {
            if (value is null)
            {
                start.Environment.Remove(name);
            }
            else
            {
                start.Environment[name] = value;
            }
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var deadline = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{program} {string.Join(' ', arguments)} did not finish within {timeout}");
        }

        return new ScriptResult(process.ExitCode, await stdout, await stderr);
    }

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "unified-llm.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"no unified-llm.sln above {AppContext.BaseDirectory}");
    }
}
