using UnifiedLlm.Daemon.Config;
using UnifiedLlm.Tests.Support;

namespace UnifiedLlm.Tests.Config;

/// <summary>Model sources that ullmd downloads (http(s) URLs and hf: references), [downloads], and their errors with file:line.</summary>
public class RemoteSourceConfigTests
{
    private const string Head = "[server]\ndata_dir = \"/srv/ullm\"\n";

    [Fact]
    public void An_hf_reference_resolves_through_the_configured_endpoint_to_a_place_under_data_dir_models()
    {
        var config = ConfigLoader.Parse(
            Head + "[downloads]\nhf_endpoint = \"http://127.0.0.1:8099/mirror\"\ntoken_file = \"/run/credentials/hf-token\"\n"
            + "[models.m]\nbackend = \"llamacpp\"\nsource = \"hf:Org-1/Repo.GGUF/quant/Model-Q4_K_M.gguf@v1.0\"\nsha256 = \"" + new string('A', 64) + "\"\n",
            "remote.toml");

        var model = config.Models["m"];
        var remote = Assert.IsType<RemoteSource>(model.Remote);
        var part = Assert.Single(remote.Parts);
        Assert.Equal("http://127.0.0.1:8099/mirror/Org-1/Repo.GGUF/resolve/v1.0/quant/Model-Q4_K_M.gguf", part.Url.AbsoluteUri);
        Assert.Equal("/srv/ullm/models/hf/Org-1/Repo.GGUF/v1.0/quant/Model-Q4_K_M.gguf", part.LocalPath);
        Assert.Equal(new string('a', 64), part.Sha256);
        Assert.Equal(part.LocalPath, model.Source);
        Assert.True(remote.SendsToken);
        Assert.Equal(new ApiKeySource(ApiKeySourceKind.File, "/run/credentials/hf-token"), config.Downloads.Token);
    }

    [Fact]
    public void An_hf_reference_without_revision_takes_main_and_without_downloads_the_default_endpoint()
    {
        var config = ConfigLoader.Parse(Head + "[models.m]\nbackend = \"llamacpp\"\nsource = \"hf:org/repo/m.gguf\"\n", "remote.toml");

        var part = Assert.Single(config.Models["m"].Remote!.Parts);
        Assert.Equal(new Uri(DownloadsConfig.Default.HuggingFaceEndpoint, "org/repo/resolve/main/m.gguf"), part.Url);
        Assert.Equal("/srv/ullm/models/hf/org/repo/main/m.gguf", part.LocalPath);
        Assert.Null(config.Downloads.Token);
    }

    [Fact]
    public void A_split_source_names_its_first_part_and_brings_every_part_into_one_directory()
    {
        var config = ConfigLoader.Parse(
            Head + "[models.m]\nbackend = \"llamacpp\"\nsource = \"http://127.0.0.1:8099/files/big-00001-of-00003.gguf\"\n"
            + "sha256 = [\"" + new string('1', 64) + "\", \"" + new string('2', 64) + "\", \"" + new string('3', 64) + "\"]\n",
            "split.toml");

        var remote = config.Models["m"].Remote!;
        Assert.Equal(
            ["http://127.0.0.1:8099/files/big-00001-of-00003.gguf", "http://127.0.0.1:8099/files/big-00002-of-00003.gguf", "http://127.0.0.1:8099/files/big-00003-of-00003.gguf"],
            remote.Parts.Select(p => p.Url.AbsoluteUri));
        Assert.Single(remote.Parts.Select(p => Path.GetDirectoryName(p.LocalPath)).Distinct());
        Assert.StartsWith("/srv/ullm/models/url/", remote.LocalPath, StringComparison.Ordinal);
        Assert.EndsWith("/big-00001-of-00003.gguf", config.Models["m"].Source, StringComparison.Ordinal);
        Assert.Equal([new string('1', 64), new string('2', 64), new string('3', 64)], remote.Parts.Select(p => p.Sha256));
        Assert.False(remote.SendsToken);
    }

    [Theory]
    [InlineData("hf:org/repo", "source", "is not a Hugging Face reference")]
    [InlineData("hf:org/repo/../m.gguf", "source", "is not a Hugging Face reference")]
    [InlineData("hf:org/repo/m.gguf@", "source", "is not a Hugging Face reference")]
    [InlineData("hf:org/repo/weights.bin", "source", "does not name a .gguf file")]
    [InlineData("ftp://127.0.0.1/m.gguf", "source", "must be an absolute path")]
    [InlineData("https://user:pw@127.0.0.1/m.gguf", "source", "is not an http(s) URL of a file")]
    [InlineData("https://127.0.0.1/m.gguf?download=1", "source", "is not an http(s) URL of a file")]
    [InlineData("https://127.0.0.1/big-00002-of-00003.gguf", "source", "is part 00002 of a split model")]
    public void A_malformed_remote_source_is_an_error_at_its_line(string source, string key, string message)
    {
        var e = Assert.Throws<ConfigException>(() => ConfigLoader.Parse(
            Head + "\n[models.m]\nbackend = \"llamacpp\"\nsource = \"" + source + "\"\n", "bad.toml"));

        var error = Assert.Single(e.Errors);
        Assert.Equal(("bad.toml", 6, $"models.m.{key}"), (error.File, error.Line, error.KeyPath));
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("backend = \"llamacpp\"\nsource = \"https://127.0.0.1/m.gguf\"\nsha256 = \"abc\"", "models.m.sha256", "sha256 'abc' is not 64 hexadecimal digits")]
    [InlineData("backend = \"llamacpp\"\nsource = \"https://127.0.0.1/m-00001-of-00002.gguf\"\nsha256 = \"" + "0000000000000000000000000000000000000000000000000000000000000000" + "\"", "models.m.sha256", "split into 2 parts: give one per part")]
    [InlineData("backend = \"llamacpp\"\nsource = \"/models/m.gguf\"\nsha256 = \"" + "0000000000000000000000000000000000000000000000000000000000000000" + "\"", "models.m.sha256", "a checksum is for a source that ullmd downloads")]
    [InlineData("backend = \"ollama\"\nsource = \"hf:org/repo/m.gguf\"", "models.m.source", "ullmd downloads GGUF files for llamacpp models only")]
    public void Checksums_and_backends_that_do_not_fit_the_source_are_errors(string model, string key, string message)
    {
        var e = Assert.Throws<ConfigException>(() => ConfigLoader.Parse(
            Head + "[backends.ollama]\nenabled = true\n[models.m]\n" + model + "\n", "bad.toml"));

        var error = Assert.Single(e.Errors);
        Assert.Equal(key, error.KeyPath);
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Downloads_settings_are_checked()
    {
        var e = Assert.Throws<ConfigException>(() => ConfigLoader.Parse(
            "[downloads]\nhf_endpoint = \"mirror.local\"\ntoken_file = \"hf-token\"\ntoken_files = 1\n", "dl.toml"));

        Assert.Equal(
            [
                "dl.toml:2:1: downloads.hf_endpoint: 'mirror.local' is not an http(s) URL (without user info, query or fragment)",
                "dl.toml:3:1: downloads.token_file: 'hf-token' must be an absolute path",
                "dl.toml:4:1: downloads.token_files: unknown key (did you mean 'token_file'?)",
            ],
            e.Errors.Select(x => x.ToString()));
    }

    [Fact]
    public async Task Ullmd_check_names_the_file_and_line_of_a_malformed_source()
    {
        using var dir = new TempDirectory("ullm-remote-check");
        var config = dir.Write("bad.toml", "[server]\ndata_dir = \"/srv/ullm\"\n[models.m]\nbackend = \"llamacpp\"\nsource = \"hf:org/m.gguf\"\n");

        var result = await ProcessRunner.UllmdAsync(["--config", config, "--check"]);

        Assert.Equal(2, result.ExitCode);
        Assert.StartsWith($"{config}:5:1: models.m.source: 'hf:org/m.gguf' is not a Hugging Face reference like \"hf:ORG/REPO/FILE.gguf\"", result.StandardError, StringComparison.Ordinal);
    }
}
