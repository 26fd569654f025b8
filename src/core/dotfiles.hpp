// Pure editing of the user's own configuration files for `puddle setup`:
// a block of puddle's between two marker lines, put in and taken out again
// so that taking it out gives back exactly the bytes that were there; and
// what another program configured in them (an ssh IdentityAgent line, an
// SSH_AUTH_SOCK), so the verb can say what it displaced. No I/O here.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace puddle {

// The two comment lines around a block ("# >>> puddle setup ssh ...").
struct BlockMarkers {
    std::string begin; // whole first line, without its "\n"
    std::string end;   // whole last line, without its "\n"
};

enum class BlockPlace { top, bottom };

// `text` with `body` (lines ending in "\n") between the markers, at the top
// or the bottom. Text that has the block already has it replaced in place
// (the same bytes give the same text: idempotent). At the bottom of a text
// that does not end in a line break one is added, and the begin marker says
// so, so that remove_block() takes it away again.
std::string put_block(std::string_view text, const BlockMarkers &markers, std::string_view body, BlockPlace place);
// `text` without the block (and the line break put_block added); nullopt
// when there is no block. A begin marker without its end is not a block.
std::optional<std::string> remove_block(std::string_view text, const BlockMarkers &markers);
// The block's body as it stands in `text`, nullopt when none.
std::optional<std::string> block_body(std::string_view text, const BlockMarkers &markers);

// An option set in an ssh_config(5) text outside puddle's block.
struct SshOption {
    int line = 0;        // 1-based
    std::string context; // "" (top level) or the Host/Match line that governs it
    std::string value;
};
std::vector<SshOption> find_ssh_option(std::string_view text, std::string_view keyword,
                                       const BlockMarkers &skip);

// Whose agent a socket path belongs to, from the path alone: "gnome-keyring's
// ssh agent", "gcr-ssh-agent", "gpg-agent", "OpenSSH's ssh-agent", "puddle's
// ssh-agent door", or "an ssh agent" when it cannot tell.
std::string describe_agent_socket(std::string_view path);

} // namespace puddle
