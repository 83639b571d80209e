using System.Text.Json;

namespace UnifiedLlm.Tests.Ctl;

/// <summary>ullmctl scan, models and model show against a real ullmd scanning a real directory of GGUF files.</summary>
public sealed class RegistryCommandTests
{
    [Fact]
    public async Task Scan_reports_counts_and_every_unreadable_file()
    {
        await using var host = await CtlHost.StartAsync(nvml: null);
        // A first scan waits out the startup scan, so the copy below is the only new file whenever the startup scan ran.
        Assert.Equal(0, (await host.CtlAsync("scan")).ExitCode);
        File.Copy(host.TinyModelPath, Path.Combine(host.ModelsDirectory, "copy.gguf"));

        var result = await host.CtlAsync("scan");
        var json = await host.CtlAsync("scan", "--json");

        Assert.Equal(0, result.ExitCode);
        Assert.Equal(
            $"""
            3 model file(s): 1 added, 0 updated, 2 unchanged, 0 removed, 1 error(s)

            cannot be used:
              {host.BrokenModelPath}: at byte 4: unsupported GGUF version 1953849888 (only versions 2 and 3 are supported)

            """,
            result.StandardOutput);
        using var doc = JsonDocument.Parse(json.StandardOutput);
        Assert.Equal(3, doc.RootElement.GetProperty("filesSeen").GetInt32());
        Assert.Equal(3, doc.RootElement.GetProperty("unchanged").GetInt32());
        Assert.Equal(host.BrokenModelPath, doc.RootElement.GetProperty("errors")[0].GetProperty("path").GetString());
    }

    [Fact]
    public async Task Models_and_model_show_carry_the_scanned_profile()
    {
        await using var host = await CtlHost.StartAsync(nvml: null, extraConfig: """
            [models.gone]
            backend = "llamacpp"
            source = "/nonexistent/gone.gguf"
            """);

        var models = await host.CtlAsync("models");
        var show = await host.CtlAsync("model", "show", "small");
        var json = await host.CtlAsync("model", "show", "tiny", "--json");
        var gone = await host.CtlAsync("model", "show", "gone");

        Assert.Equal(0, models.ExitCode);
        Assert.Equal(
            """
            NAME  BACKEND   STATE     ARCH   QUANT  CTX    LAYERS  PRIO  PINNED  ALIASES
            gone  llamacpp  unloaded  -      -      model  auto    50    no
            tiny  llamacpp  unloaded  llama  F32    256    auto    50    no      small

            """,
            models.StandardOutput);
        Assert.Contains("profile     llama, 120,384 parameters, F32, 2 layers, ctx 256, 478.8 KiB\n", show.StandardOutput);
        using var doc = JsonDocument.Parse(json.StandardOutput);
        var profile = doc.RootElement.GetProperty("profile");
        Assert.Equal("gguf", profile.GetProperty("format").GetString());
        Assert.Equal(2, profile.GetProperty("layerCount").GetInt32());
        Assert.Equal(64, profile.GetProperty("embeddingLength").GetInt32());
        Assert.Equal(4, profile.GetProperty("headCountKv").GetInt32());
        Assert.Equal(new FileInfo(host.TinyModelPath).Length.ToString(System.Globalization.CultureInfo.InvariantCulture), profile.GetProperty("fileBytes").GetString());
        Assert.Contains("profile     cannot be read: file does not exist\n", gone.StandardOutput);
    }
}
