#pragma once

#include "orderrecord.h"

#include <QDialog>

class QCheckBox;
class QDialogButtonBox;
class QGroupBox;
class QLabel;
class QLineEdit;

// Asks how to retry a failed order: optionally a corrected payment method and/or
// shipping address. Fields the eligibility requires must be filled before OK.
class RetryDialog : public QDialog
{
    Q_OBJECT
public:
    RetryDialog(const QString &orderNumber, const RetryEligibility &eligibility,
                QWidget *parent = nullptr);

    // The order's payment method and shipping address as they are: the fields
    // start from them, a required correction must differ from them, and the
    // request carries only what was changed. (Without it the fields start empty
    // and empty means "keep the current one".)
    void setCurrentOrder(const QString &paymentMethodId, const ShippingAddress &address);

    // The failure came from a fault injected by the Failure Injection panel, not
    // from the order: a correction the failure code asks for (a new payment method,
    // another address) is offered but not required. Call before setCurrentOrder().
    void setFailureInjected();
    bool isCorrectionRequired() const { return m_paymentRequired || m_addressRequired; }

    RetryRequest request(const QUuid &orderId) const;

    QLineEdit *paymentMethodEdit() const { return m_payment; }
    QGroupBox *addressGroup() const { return m_addressGroup; }
    bool isAcceptable() const;
    // Why Retry is disabled, naming the field; empty when it is enabled.
    QString problemText() const;

private:
    void updateOk();
    void showRequirements(); // labels, hints and the address group as m_*Required say

    ShippingAddress enteredAddress() const;

    bool m_paymentRequired = false;
    bool m_addressRequired = false;
    bool m_currentKnown = false; // setCurrentOrder() was called
    QString m_currentPayment;
    ShippingAddress m_currentAddress;
    QString m_introStart; // the intro without the server's reason
    QLabel *m_intro = nullptr;
    QLabel *m_problem = nullptr;
    QLabel *m_paymentLabel = nullptr;
    QLineEdit *m_payment = nullptr;
    QGroupBox *m_addressGroup = nullptr;
    QLineEdit *m_street = nullptr;
    QLineEdit *m_city = nullptr;
    QLineEdit *m_state = nullptr;
    QLineEdit *m_postalCode = nullptr;
    QLineEdit *m_country = nullptr;
    QDialogButtonBox *m_buttons = nullptr;
};
