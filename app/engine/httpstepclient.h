#pragma once

#include "stepclient.h"

#include <QUrl>
#include <array>
#include <deque>
#include <memory>

class QNetworkAccessManager;
class QNetworkReply;

// Step services over HTTP (QNetworkAccessManager, created and used in the engine
// thread). Endpoints under the base URL:
//   POST {base}/inventory/reservations                      -> {reservationId}
//   POST {base}/inventory/reservations/{id}/release
//   POST {base}/payments/authorizations                     -> {authorizationId, amountInCents}
//   POST {base}/payments/authorizations/{id}/void
//   POST {base}/shipping/shipments                          -> {shipmentId, trackingNumber, estimatedDelivery}
//   POST {base}/shipping/shipments/{id}/cancel
// {id} is the id the step's own forward call returned, or that call's idempotency key
// when it never answered (the service reverses by key, or answers 404: nothing to do).
// A step keeps only its own result keys (above); an id or value that cannot be kept
// whole (over 256 characters, U+0000, an unpaired surrogate) makes the answer a bad one,
// like an answer without its id: it is never stored shortened.
// Every request carries `Idempotency-Key: <executionId>:<step>:<action>`, the same on
// every retry. Timeouts (stepTimeoutMs without progress, from when the request is
// handed to a connection: an answer whose bytes keep arriving is read on, as they
// arrive on the wire, which a service that compresses its answer may hold back to the
// end; and however they come, at most 4 x stepTimeoutMs per attempt), transport
// errors, 5xx and 408/425/429 are retried with
// exponential backoff (stepRetries times; a Retry-After of up to 10 s is waited for);
// other 4xx are business rejections whose JSON body carries {"error": CODE, "message": ...}
// and are not retried (a code the engine itself gives, STEP_TIMEOUT, SERVICE_UNAVAILABLE,
// STORE_REFUSED, COMPENSATION_FAILED, PAYMENT_AMOUNT_MISMATCH, becomes STEP_REJECTED naming it). An answer over
// 1 MiB is cut off and counts as a transport error, and so do a 2xx whose body did not
// arrive whole and a forward 2xx answer without its id (reservationId, authorizationId,
// shipmentId: not JSON, a proxy's page), which say nothing of what was done. Redirects
// are not followed (a step call goes to the configured service only; Qt would turn a
// redirected POST into a GET): a 3xx is retried like a 5xx, then named in the failure
// (its target only in the log: it is the service's internal address). A failure after
// the retries keeps what the service's last answer said ({"error", "message"} of a 5xx).
// A compensation answered 404 or 410 counts as done (nothing to reverse: never made, or
// gone), with the answer kept (StepOutcome::note, "HTTP 404: nothing to reverse"); any
// other 4xx (409 ALREADY_CAPTURED: the authorization was captured, it cannot be voided)
// is a failed compensation. A call whose every attempt failed before the request was
// sent (connection refused, host not found) is reported as not made (StepOutcome::notSent).
// The last failure of a forward call is logged as a warning; a compensation's only at
// debug level (the orchestrator retries it and warns when it gives up).
//
// Calls are sent on six lanes, one per step and action, each with its own connections
// (its own QNetworkAccessManager: Qt opens at most six per host and manager) and at most
// kCallsPerLane calls out at once; more wait in the lane's queue, untimed, and are sent
// in order as calls finish. So a request never waits in Qt's own queue with its timeout
// running, and a service that hangs on one endpoint (payments) holds up only that
// endpoint's calls, not the inventory and shipping calls of other orders.
class HttpStepClient : public StepClient
{
public:
    HttpStepClient(const QUrl &baseUrl, int timeoutMs, int retries);
    ~HttpStepClient() override;

    void call(const StepRequest &request, std::function<void(StepOutcome)> done) override;
    QString describe() const override;

    static QString endpointPath(const StepRequest &request);

    // Calls out at once per lane: Qt's connections per host of one manager.
    static constexpr int kCallsPerLane = 6;

private:
    struct Call;
    struct Lane {
        std::unique_ptr<QNetworkAccessManager> nam;
        int out = 0; // calls sent and not finished
        std::deque<std::shared_ptr<Call>> waiting;
    };
    Lane &laneOf(const Call &call);
    void queue(const std::shared_ptr<Call> &call);
    void sendWaiting(Lane &lane);
    void send(Lane &lane, const std::shared_ptr<Call> &call);
    void finished(const std::shared_ptr<Call> &call, QNetworkReply *reply);

    QUrl m_baseUrl;
    int m_timeoutMs;
    int m_retries;
    std::array<Lane, 2 * kStepCount> m_lanes;
};
