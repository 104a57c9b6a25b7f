#pragma once

#include "stepclient.h"

#include <QUrl>
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
// {id} is the id the forward call returned, or the forward call's idempotency key
// when it never answered (the service reverses by key, or answers 404: nothing to do).
// Every request carries `Idempotency-Key: <executionId>:<step>:<action>`, the same on
// every retry. Timeouts (stepTimeoutMs without progress), transport errors, 5xx and
// 408/425/429 are retried with exponential backoff (stepRetries times; a Retry-After
// of up to 10 s is waited for); other 4xx are business rejections whose JSON body
// carries {"error": CODE, "message": ...} and are not retried. An answer over 1 MiB
// is cut off and counts as a transport error, and so does a forward 2xx answer without
// its id (reservationId, authorizationId, shipmentId: not JSON, a proxy's page), which
// says nothing of what was done. Redirects are not followed (a step call goes to the
// configured service only; Qt would turn a redirected POST into a GET): a 3xx is
// retried like a 5xx, then named in the failure. A compensation answered 404, 409 or
// 410 counts as done (nothing, or nothing more, to reverse).
class HttpStepClient : public StepClient
{
public:
    HttpStepClient(const QUrl &baseUrl, int timeoutMs, int retries);
    ~HttpStepClient() override;

    void call(const StepRequest &request, std::function<void(StepOutcome)> done) override;
    QString describe() const override;

    static QString endpointPath(const StepRequest &request);

private:
    struct Call;
    void send(const std::shared_ptr<Call> &call);
    void finished(const std::shared_ptr<Call> &call, QNetworkReply *reply);

    QUrl m_baseUrl;
    int m_timeoutMs;
    int m_retries;
    std::unique_ptr<QNetworkAccessManager> m_nam;
};
