using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;

namespace UnifiedLlm.Daemon.Config;

/// <summary>
/// A model <c>source</c> that ullmd downloads before the first load: an http(s) URL of a GGUF file, or a Hugging Face
/// reference <c>hf:ORG/REPO/FILE.gguf[@REVISION]</c> resolved through <c>[downloads] hf_endpoint</c>. A split GGUF
/// (<c>-00001-of-0000N.gguf</c>) stands for all N parts. Each part has a fixed place under <c>data_dir/models</c>, so
/// the rest of ullmd (sizing, the driver, the sandbox) sees the first part's local path as the model's source.
/// </summary>
/// <param name="Text">The source as configured.</param>
/// <param name="Parts">Every file to download, in part order: where from and where to.</param>
/// <param name="SendsToken">Whether the download token goes with the requests (Hugging Face references only).</param>
internal sealed partial record RemoteSource(string Text, IReadOnlyList<RemotePart> Parts, bool SendsToken)
{
    public const string HuggingFacePrefix = "hf:";

    /// <summary>Whether a configured source names something to download rather than a local path or a tag.</summary>
    public static bool IsRemote(string source) =>
        source.StartsWith(HuggingFacePrefix, StringComparison.Ordinal)
        || source.StartsWith("https://", StringComparison.OrdinalIgnoreCase)
        || source.StartsWith("http://", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// The download plan of <paramref name="source"/>, or null with <paramref name="error"/> saying what is malformed.
    /// <paramref name="sha256"/> holds one digest per part, or none.
    /// </summary>
    public static RemoteSource? Parse(string source, Uri hfEndpoint, string modelsDirectory, IReadOnlyList<string> sha256, out string error)
    {
        error = "";
        Uri first;
        string directory;
        string fileName;
        bool sendsToken;
        if (source.StartsWith(HuggingFacePrefix, StringComparison.Ordinal))
        {
            var match = HuggingFaceReference().Match(source[HuggingFacePrefix.Length..]);
            if (!match.Success || match.Groups["file"].Value.Split('/').Any(s => s is "." or ".."))
            {
                error = $"'{source}' is not a Hugging Face reference like \"hf:ORG/REPO/FILE.gguf\" or \"hf:ORG/REPO/FILE.gguf@REVISION\" "
                    + "(ORG, REPO and REVISION of letters, digits, '.', '_', '-'; FILE a .gguf path in the repository)";
                return null;
            }

            var (org, repo, file) = (match.Groups["org"].Value, match.Groups["repo"].Value, match.Groups["file"].Value);
            var revision = match.Groups["revision"].Success ? match.Groups["revision"].Value : "main";
            var slash = file.LastIndexOf('/');
            fileName = file[(slash + 1)..];
            var inRepo = slash < 0 ? "" : file[..slash];
            first = new Uri(hfEndpoint, $"{Escape(org)}/{Escape(repo)}/resolve/{Escape(revision)}/{string.Join('/', file.Split('/').Select(Escape))}");
            directory = Path.Combine(modelsDirectory, "hf", org, repo, revision, inRepo);
            sendsToken = true;
        }
        else
        {
            if (!Uri.TryCreate(source, UriKind.Absolute, out var url) || (url.Scheme != Uri.UriSchemeHttps && url.Scheme != Uri.UriSchemeHttp)
                || url.UserInfo.Length > 0 || url.Query.Length > 0 || url.Fragment.Length > 0)
            {
                error = $"'{source}' is not an http(s) URL of a file (without user info, query or fragment)";
                return null;
            }

            fileName = Uri.UnescapeDataString(url.Segments[^1]);
            first = url;

            // One directory per URL folder, so that the parts of a split model lie together and two servers' files of the
            // same name do not.
            var folder = url.GetLeftPart(UriPartial.Path)[..^url.Segments[^1].Length];
            directory = Path.Combine(modelsDirectory, "url", Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(folder)))[..16]);
            sendsToken = false;
        }

        if (!FileName().IsMatch(fileName))
        {
            error = $"'{source}' does not name a .gguf file (the last part of the path, letters, digits, '.', '_', '-')";
            return null;
        }

        var split = SplitName().Match(fileName);
        var urls = new List<(Uri Url, string Name)> { (first, fileName) };
        if (split.Success)
        {
            if (split.Groups["part"].Value != "00001")
            {
                error = $"'{source}' is part {split.Groups["part"].Value} of a split model: name its first part (-00001-of-{split.Groups["count"].Value}.gguf), which brings the others";
                return null;
            }

            var count = int.Parse(split.Groups["count"].Value, CultureInfo.InvariantCulture);
            if (count < 1)
            {
                error = $"'{source}' says its model is split into 0 parts";
                return null;
            }

            for (var part = 2; part <= count; part++)
            {
                var name = $"{split.Groups["stem"].Value}-{part:D5}-of-{split.Groups["count"].Value}.gguf";
                urls.Add((new Uri(first, Escape(name)), name));
            }
        }

        if (sha256.Count > 0 && sha256.Count != urls.Count)
        {
            error = urls.Count == 1
                ? $"sha256 has {sha256.Count} digests but '{source}' is one file"
                : $"sha256 has {sha256.Count} digest(s) but '{source}' is split into {urls.Count} parts: give one per part, in order";
            return null;
        }

        if (sha256.FirstOrDefault(d => !Sha256Hex().IsMatch(d)) is { } bad)
        {
            error = $"sha256 '{bad}' is not 64 hexadecimal digits";
            return null;
        }

        var parts = urls.Select((u, i) => new RemotePart(u.Url, Path.Combine(directory, u.Name), sha256.Count > 0 ? sha256[i].ToLowerInvariant() : null)).ToList();
        return new RemoteSource(source, parts, sendsToken);
    }

    /// <summary>Where the model lies once downloaded: its first part, which llama-server is given.</summary>
    public string LocalPath => Parts[0].LocalPath;

    private static string Escape(string segment) => Uri.EscapeDataString(segment);

    [GeneratedRegex(@"^(?<org>[A-Za-z0-9][A-Za-z0-9._-]*)/(?<repo>[A-Za-z0-9][A-Za-z0-9._-]*)/(?<file>[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*)(@(?<revision>[A-Za-z0-9][A-Za-z0-9._-]*))?$")]
    private static partial Regex HuggingFaceReference();

    [GeneratedRegex(@"^[A-Za-z0-9][A-Za-z0-9._-]*\.gguf$", RegexOptions.IgnoreCase)]
    private static partial Regex FileName();

    [GeneratedRegex(@"^(?<stem>.+)-(?<part>\d{5})-of-(?<count>\d{5})\.gguf$", RegexOptions.IgnoreCase)]
    private static partial Regex SplitName();

    [GeneratedRegex("^[0-9A-Fa-f]{64}$")]
    private static partial Regex Sha256Hex();
}

/// <summary>One file of a <see cref="RemoteSource"/>; <see cref="Sha256"/> (lower-case hex) null when not configured.</summary>
internal sealed record RemotePart(Uri Url, string LocalPath, string? Sha256);

/// <summary>
/// [downloads]: the Hugging Face endpoint <c>hf:</c> sources resolve through, and where the token for gated repositories
/// comes from (a file or a systemd credential, read at each download, never kept in the config).
/// </summary>
internal sealed record DownloadsConfig(Uri HuggingFaceEndpoint, ApiKeySource? Token)
{
    public const string DefaultHuggingFaceEndpoint = "https://huggingface.co/";

    public static DownloadsConfig Default { get; } = new(new Uri(DefaultHuggingFaceEndpoint), null);
}
