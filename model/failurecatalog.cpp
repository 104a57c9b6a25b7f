#include "failurecatalog.h"

FailureInfo failureInfo(const QString &code)
{
    FailureInfo info;
    info.code = code;
    if (code == QLatin1String("INVENTORY_UNAVAILABLE")) {
        info.retryable = true;
        info.customerMessage = QStringLiteral("One or more items are out of stock.");
        // (A retry can change the payment method and the address, not the items.)
        info.suggestedAction = QStringLiteral(
            "Retry the order once the items are back in stock, or place a new order without them.");
    } else if (code == QLatin1String("PAYMENT_DECLINED")) {
        info.retryable = true;
        info.requiredActions = {QStringLiteral("UPDATE_PAYMENT_METHOD")};
        info.customerMessage = QStringLiteral("Your payment was declined.");
        info.suggestedAction = QStringLiteral("Update your payment method and retry the order.");
    } else if (code == QLatin1String("FRAUD_DETECTED")) {
        info.retryable = false;
        info.customerMessage = QStringLiteral("Your payment could not be accepted.");
        info.suggestedAction = QStringLiteral("Please contact customer support about this order.");
    } else if (code == QLatin1String("INVALID_ADDRESS")) {
        info.retryable = true;
        info.requiredActions = {QStringLiteral("UPDATE_SHIPPING_ADDRESS")};
        info.customerMessage = QStringLiteral("The shipping address could not be verified.");
        info.suggestedAction = QStringLiteral("Correct your shipping address and retry the order.");
    } else if (code == QLatin1String("SHIPPING_UNAVAILABLE")) {
        info.retryable = true;
        info.requiredActions = {QStringLiteral("UPDATE_SHIPPING_ADDRESS")};
        info.customerMessage = QStringLiteral("We cannot ship to this destination.");
        info.suggestedAction = QStringLiteral("Choose a shipping address we deliver to and retry the order.");
    } else if (code == QLatin1String("STEP_TIMEOUT")) {
        info.retryable = true;
        info.customerMessage = QStringLiteral("A service took too long to answer.");
        info.suggestedAction = QStringLiteral("Retry the order in a few minutes.");
    } else if (code == QLatin1String("SERVICE_UNAVAILABLE")) {
        info.retryable = true;
        info.customerMessage = QStringLiteral("A service we depend on is temporarily unavailable.");
        info.suggestedAction = QStringLiteral("Retry the order in a few minutes.");
    } else if (code == QLatin1String("STORE_REFUSED")) {
        info.retryable = true;
        info.customerMessage = QStringLiteral("We could not record a step of your order, so the order was undone.");
        info.suggestedAction = QStringLiteral("Retry the order; contact customer support if it fails again.");
    } else if (code == QLatin1String("PAYMENT_AMOUNT_MISMATCH")) {
        info.retryable = true;
        info.customerMessage = QStringLiteral("Your payment was authorized for a different amount than your order's "
                                              "total, so it was voided.");
        info.suggestedAction = QStringLiteral("Retry the order; contact customer support if it fails again.");
    } else if (code == QLatin1String("COMPENSATION_FAILED")) {
        info.retryable = false;
        info.customerMessage = QStringLiteral("We could not fully undo the completed steps of your order.");
        info.suggestedAction = QStringLiteral("Customer support has been notified and will resolve this for you.");
    } else {
        info.retryable = true;
        info.customerMessage = QStringLiteral("Something went wrong while processing your order.");
        info.suggestedAction = QStringLiteral("Retry the order; contact customer support if it fails again.");
    }
    return info;
}

QString retriesUsedUpAction()
{
    return QStringLiteral("This order has been retried as often as it can be; please contact customer support or "
                          "place a new order.");
}

QString injectedFailureAction(const QString &code)
{
    return failureInfo(code).retryable
        ? QStringLiteral("Nothing to correct: this failure was injected (Failure Injection panel) for a demo; the "
                         "order can be retried as it is.")
        : QStringLiteral("Nothing to correct: this failure was injected (Failure Injection panel) for a demo. Its "
                         "code is never retried, so the order cannot be retried; place a new order to try again.");
}

bool isEngineVerdict(const QString &code)
{
    for (const char *own : {"COMPENSATION_FAILED", "STORE_REFUSED", "PAYMENT_AMOUNT_MISMATCH", "STEP_TIMEOUT"}) {
        if (code.compare(QLatin1String(own), Qt::CaseInsensitive) == 0)
            return true;
    }
    return false;
}
