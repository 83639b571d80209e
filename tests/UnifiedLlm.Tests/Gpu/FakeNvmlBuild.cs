using System.Diagnostics;

namespace UnifiedLlm.Tests.Gpu;

/// <summary>Builds the fake libnvidia-ml variants from tests/fakes/nvml with gcc once for the test classes that share it.</summary>
public sealed class FakeNvmlBuild : IAsyncLifetime
{
    private readonly string directory = Directory.CreateTempSubdirectory("ullm-fake-nvml-").FullName;

    /// <summary>Every entry point, like a current driver.</summary>
    public string Current => Path.Join(directory, "libnvidia-ml.so.1");

    /// <summary>No _v3 entry points, like an R470 driver.</summary>
    public string WithoutV3 => Path.Join(directory, "libnvidia-ml-no-v3.so.1");

    /// <summary>No _v2/_v3 entry points, like a pre-R450 driver.</summary>
    public string OldDriver => Path.Join(directory, "libnvidia-ml-old.so.1");

    public async ValueTask InitializeAsync()
    {
        var script = FindBuildScript();
        var start = new ProcessStartInfo("sh") { RedirectStandardError = true, RedirectStandardOutput = true };
        start.ArgumentList.Add(script);
        start.ArgumentList.Add(directory);
        using var build = Process.Start(start) ?? throw new InvalidOperationException("could not start sh");
        var stderr = build.StandardError.ReadToEndAsync();
        var stdout = build.StandardOutput.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        await build.WaitForExitAsync(timeout.Token);
        if (build.ExitCode != 0)
        {
            throw new InvalidOperationException($"{script} failed with exit code {build.ExitCode}: {await stdout}{await stderr}");
        }
    }

    public ValueTask DisposeAsync()
    {
        Directory.Delete(directory, recursive: true);
        return ValueTask.CompletedTask;
    }

    private static string FindBuildScript()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var script = Path.Join(dir.FullName, "tests", "fakes", "nvml", "build.sh");
            if (File.Exists(script))
            {
                return script;
            }
        }

        throw new FileNotFoundException($"tests/fakes/nvml/build.sh not found above {AppContext.BaseDirectory}");
    }
}

[CollectionDefinition(Name)]
public sealed class FakeNvmlTests : ICollectionFixture<FakeNvmlBuild>
{
    public const string Name = "fake libnvidia-ml";
}
