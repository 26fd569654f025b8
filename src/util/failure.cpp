#include "util/failure.hpp"

#include <systemd/sd-bus-protocol.h>

namespace puddle {
namespace {

// Failures that need no user action of their own (busy, internal) keep the
// bus's generic names, which every D-Bus client already understands. The
// agent never sends the last three (see agent::identity_failure_kind); they
// come after `internal`, so the generic name decodes to `internal`.
constexpr FailureSpelling kTable[] = {
    {Failure::locked, "org.puddle.Agent1.Error.Locked", ErrCode::locked, Exit::locked, "",
     "run 'puddle unlock' first"},
    {Failure::not_initialized, "org.puddle.Agent1.Error.NotInitialized", ErrCode::not_initialized,
     Exit::not_initialized, "", "run 'puddle init', or 'puddle join'"},
    {Failure::bad_passphrase, "org.puddle.Agent1.Error.BadPassphrase", ErrCode::bad_request, Exit::bad_passphrase, "",
     "try again (a forgotten passphrase cannot be recovered: see RECOVERY in puddle(1))"},
    {Failure::reserved_prefix, "org.puddle.Agent1.Error.ReservedPrefix", ErrCode::reserved_prefix, Exit::failure, "",
     ""},
    {Failure::invalid_argument, "org.puddle.Agent1.Error.InvalidArgument", ErrCode::bad_request, Exit::usage, "", ""},
    {Failure::denied, SD_BUS_ERROR_ACCESS_DENIED, ErrCode::denied, Exit::denied, "permission denied: ", ""},
    {Failure::busy, SD_BUS_ERROR_LIMITS_EXCEEDED, ErrCode::internal, Exit::failure, "", ""},
    {Failure::internal, SD_BUS_ERROR_FAILED, ErrCode::internal, Exit::failure, "", ""},
    {Failure::failed, SD_BUS_ERROR_FAILED, ErrCode::internal, Exit::failure, "", ""},
    {Failure::pairing_failed, SD_BUS_ERROR_FAILED, ErrCode::internal, Exit::pairing_failed, "", ""},
    {Failure::ambiguous, SD_BUS_ERROR_FAILED, ErrCode::internal, Exit::ambiguous, "", ""},
};

} // namespace

const FailureSpelling &spelling(Failure f) {
    for (const auto &row : kTable)
        if (row.failure == f) return row;
    return spelling(Failure::internal); // every kind has a row: not reached
}

std::optional<Failure> failure_from_bus_error(std::string_view name) {
    for (const auto &row : kTable)
        if (name == row.bus_error) return row.failure;
    return std::nullopt;
}

} // namespace puddle
