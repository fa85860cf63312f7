"""Files the web pages hand out: the receipt PDF, the renewal reminder calendar file and
the order-history CSV.

Every function here takes the caller's ``gettext`` (``translations(language).gettext``)
and a ``Formatter`` for the same language, so a document reads like the page that
offered it. English labels are the msgids; their zh-Hant and zh-Hans translations are
in ``web/locale/*/LC_MESSAGES/documents.po``.
"""
