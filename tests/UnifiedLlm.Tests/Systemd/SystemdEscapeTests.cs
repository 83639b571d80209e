using System.Text;
using UnifiedLlm.Daemon.Systemd;

namespace UnifiedLlm.Tests.Systemd;

/// <summary>Our escape against the real /usr/bin/systemd-escape, on hostile and seeded random names.</summary>
public sealed class SystemdEscapeTests
{
    private const string SystemdEscapeBinary = "/usr/bin/systemd-escape";

    public static TheoryData<string> HostileNames() =>
    [
        "", "a/b", "/lead", "trail/", "//", ".hidden", "..", "a..b", "a b", "tab\there", "new\nline", "ü", "日本語", "emoji😀",
        "x-y", "a:b_c", "1abc", "$HOME", "back\\slash", "quote\"'", "%41", "a.b", "-", "@instance", new string('a', 300),
        new string('/', 10) + "..", "llama-3.1-8B-Instruct-Q4_K_M.gguf",
    ];

    [Theory]
    [MemberData(nameof(HostileNames))]
    public async Task Hostile_names_escape_exactly_like_systemd_escape(string name)
    {
        Assert.Equal(await RealEscapeAsync(name, TestContext.Current.CancellationToken), SystemdEscape.Escape(name));
    }

    [Fact(Timeout = 300_000)]
    public async Task Seeded_random_names_escape_exactly_like_systemd_escape()
    {
        var random = new Random(4242);
        const string Alphabet = "abcXYZ019-_.:/ \\@%$*?~+=,;'\"üé日😀\t";
        var runes = Alphabet.EnumerateRunes().ToArray();
        for (var i = 0; i < 150; i++)
        {
            var name = new StringBuilder();
            var length = random.Next(0, 40);
            for (var j = 0; j < length; j++)
            {
                name.Append(runes[random.Next(runes.Length)].ToString());
            }

            var value = name.ToString();
            Assert.True(await RealEscapeAsync(value, TestContext.Current.CancellationToken) == SystemdEscape.Escape(value), $"mismatch for \"{value}\"");
        }
    }

    private static async Task<string> RealEscapeAsync(string name, CancellationToken cancellationToken)
    {
        Assert.True(File.Exists(SystemdEscapeBinary), $"{SystemdEscapeBinary} is missing: install systemd to compare the escape algorithm with the real one");
        var result = await ProcessRunner.RunAsync(SystemdEscapeBinary, ["--", name], null, cancellationToken);
        Assert.True(result.ExitCode == 0, result.ToString());
        return result.StandardOutput.TrimEnd('\n');
    }
}
