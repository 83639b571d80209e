using System.CommandLine;

namespace UnifiedLlm.Ctl.Commands;

/// <summary>
/// Shell completion scripts. Each asks ullmctl itself for candidates through System.CommandLine's <c>[suggest:POS]</c>
/// directive, so completions always match this build's commands and options.
/// </summary>
internal static class CompletionCommand
{
    public const string Bash = """
        # bash completion for ullmctl: source it, or install it as /usr/share/bash-completion/completions/ullmctl
        _ullmctl_complete() {
            local IFS=$'\n'
            local candidates
            candidates="$(ullmctl "[suggest:${COMP_POINT}]" "${COMP_LINE}" 2>/dev/null)"
            COMPREPLY=($(compgen -W "${candidates}" -- "${COMP_WORDS[COMP_CWORD]}"))
        }
        complete -o default -F _ullmctl_complete ullmctl

        """;

    public const string Zsh = """
        #compdef ullmctl
        # zsh completion for ullmctl: put it on $fpath as _ullmctl, or source it after compinit
        _ullmctl() {
            local -a candidates
            candidates=("${(@f)$(ullmctl "[suggest:${CURSOR}]" "${BUFFER}" 2>/dev/null)}")
            compadd -- "${candidates[@]}"
        }
        if [ "$funcstack[1]" = "_ullmctl" ]; then
            _ullmctl "$@"
        else
            compdef _ullmctl ullmctl
        fi

        """;

    public const string Fish = """
        # fish completion for ullmctl: install it as ~/.config/fish/completions/ullmctl.fish
        complete -c ullmctl -f -a '(ullmctl "[suggest:"(string length -- (commandline -cp))"]" (commandline -p) 2>/dev/null)'

        """;

    public static Command Create()
    {
        var shell = new Argument<string>("SHELL") { Description = "bash, zsh or fish" };
        shell.AcceptOnlyFromAmong("bash", "zsh", "fish");
        var command = new Command("completion", "Print the shell completion script for bash, zsh or fish") { shell };
        command.SetAction(parse =>
        {
            Console.Out.Write(parse.GetValue(shell) switch
            {
                "bash" => Bash,
                "zsh" => Zsh,
                _ => Fish,
            });
            return CtlErrors.Ok;
        });
        return command;
    }
}
