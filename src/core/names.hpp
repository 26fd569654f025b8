// The local view of friendly-name claims (SPEC §9): this envoy's own claim,
// claims learned while pairing, and every *.json claim in the claims
// directories. Invalid claims are left out of the view and reported.
#pragma once

#include "core/config.hpp"
#include "core/files/name_claim.hpp"
#include "core/statedir.hpp"

#include <string>
#include <vector>

namespace puddle {

struct ClaimProblem {
    std::string source; // the file
    std::string why;
};

struct ClaimsView {
    std::vector<NameClaim> claims; // valid ones, each (name, key) once
    std::vector<ClaimProblem> problems;

    // Distinct keys claiming `name`.
    std::vector<PublicKey> claimants(const std::string &name) const;
};

// $XDG_DATA_HOME/puddle/names.d (default ~/.local/share/puddle/names.d):
// always part of the view, and where claims learned while pairing go.
std::string user_claims_dir();

ClaimsView load_claims(const StateDir &state, const Config &config);

// What is wrong with this envoy's own name-claim.json (unreadable,
// malformed, badly signed, or a claim for another key than `own`); empty
// when it is absent or sound.
std::string own_claim_problem(const StateDir &state, const PublicKey &own);

// Stores claims received from another envoy (as a JSON array) in the user's
// claims directory, one file per claim; invalid ones are skipped and
// returned as problems.
std::vector<ClaimProblem> store_learned_claims(std::string_view claims_json);

// This envoy's view as a JSON array text, for the pairing payload.
std::string claims_for_payload(const ClaimsView &view);

} // namespace puddle
